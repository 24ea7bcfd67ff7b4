// Package fsm is the VRRP state machine of one instance, as RFC 5798 section
// 6.4 describes it and as Keepalived implements it (vrrp.c, vrrp_scheduler.c),
// written as a pure function of events and time.
//
// The caller owns the clock and the sockets. It tells the Machine what
// happened and when (Startup, Advert, Timer, Fault, FaultCleared, SetPriority,
// Shutdown, each with the current time) and gets back a Result: the actions
// to carry out, in order (send an advertisement with a given priority, add or
// remove the virtual addresses, notify a state), the state, and the deadline
// at which to call Timer next. A Machine is not safe for concurrent use; one
// goroutine per instance drives it.
//
// Keepalived behaviour kept on purpose, where it differs from or refines the
// RFC:
//   - "state MASTER" only makes an address owner (priority 255) master at
//     once; any other priority starts in Backup with the full master down
//     timer, exactly like "state BACKUP" (vrrp_init_state). It also clears
//     nopreempt and preempt_delay.
//   - A master that hears a lower priority (or an equal priority from a lower
//     address) sends an advertisement at once, unless LowerPrioNoAdvert, and
//     reports ActMasterRxLowerPriority (notify_master_rx_lower_pri).
//   - A master that hears priority 0 answers with an advertisement at once.
//   - preempt_delay starts when the first lower-priority advertisement is
//     heard; until it runs out such advertisements are accepted (and reset
//     the master down timer), afterwards they are ignored and the timer runs
//     out.
//   - After a fault clears, the instance always returns to Backup, except an
//     address owner whose fault was present before Startup.
//   - Effective priority from tracking is clamped to 1..254 and never changes
//     an address owner; a backup's pending master down deadline moves by the
//     change in its skew time.
//   - Equal priorities are broken by the primary address compared as an
//     unsigned big-endian number (IPv4 and IPv6 alike): the higher wins.
//
// Not modelled: sync groups, the rogue address owner back-off (two
// priority-255 routers), unicast peers' extra checks, and the AH sequence
// number handling; those belong to the layers that own them.
package fsm
