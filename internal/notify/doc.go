// Package notify is the one way vigil runs external programs: MISC_CHECK scripts, notify_up and
// notify_down, VRRP notify scripts and vrrp_script. A Runner splits Keepalived's command lines,
// applies enable_script_security, runs each program in its own process group as the configured
// user, kills the whole group at the timeout, bounds the output it keeps and the number of
// programs running at once. A SecurityAudit, kept over the scripts one half checks, makes
// Keepalived's SECURITY VIOLATION warning. Fifo writes Keepalived's notify_fifo lines.
package notify
