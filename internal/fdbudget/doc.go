// Package fdbudget shares the process's file descriptors out between what must never go
// without (health checks, scripts, VRRP, BGP, the status server) and the data planes' proxied
// connections, so that a flood of clients can use every descriptor the data plane was given and
// none that a check needs.
//
// At start vigil reads RLIMIT_NOFILE and raises its soft limit to the hard one (Raise), as
// HAProxy does. The supervisor counts what each part needs from the configuration (a
// Reservation each) and Compute gives the data planes the rest: a global maxconn, the
// connections and UDP flows the userspace balancer holds at once, each TCP connection costing
// two descriptors (client and backend sides). A maxconn set in global_defs that the rest cannot
// hold is lowered to what it can, and says so.
//
// InUse counts the descriptors the process holds now, for the metrics and for the warning
// near the limit.
package fdbudget
