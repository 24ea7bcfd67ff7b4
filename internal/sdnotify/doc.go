// Package sdnotify tells systemd how the daemon is doing, with the sd_notify datagram protocol
// over the unix socket named by $NOTIFY_SOCKET: ready, reloading, stopping, a status line and
// watchdog keep-alives. Without $NOTIFY_SOCKET (not started by systemd, or Type= is not notify)
// every call does nothing, so callers never need to ask.
//
// It implements the protocol itself (a few lines) rather than pulling in a systemd library.
package sdnotify
