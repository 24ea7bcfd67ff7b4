// Package control is the operators' side of vigil: the commands that change what the checks
// alone would decide (drain, maint, ready and weight for real servers, resign and ready for
// VRRP instances), without editing the file and reloading.
//
// A Command is the same whichever way it comes: a line of words on the control socket
// (Socket, a Unix socket that only root may use, HAProxy's stats socket), a JSON body on the
// status API's write endpoints (internal/status), or `vigil ctl` (cmd/vigil), which speaks to
// either. An Executor carries it out (the supervisor's, which hands it to the load-balancing
// half or the VRRP half) and names who asked in each change: "socket uid 0", "http from ADDR".
// Errors say what kind of failure they are (NotFound, Ambiguous, Invalid) so that each
// transport answers in its own terms (a 404, an "error:" line, an exit status).
//
// What the operators set outlives a restart in a state file (State, Load, Save) under
// global_defs state_dir, written atomically: a temporary file, fsync, rename, fsync of the
// directory.
package control
