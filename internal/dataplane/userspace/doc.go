// Package userspace is vigil's built-in data plane: a TCP and UDP proxy that balances new
// connections (TCP) and flows (UDP) over a service's backends with the IPVS schedulers (rr, wrr,
// lc, wlc, sh, mh, fo), persistence, a sorry server, and drain-or-reset when a backend leaves.
// It needs no privilege and runs anywhere Go does; backends see the balancer's address as the
// client's (it is a full proxy, like HAProxy in mode tcp, not a packet forwarder like IPVS).
// For that reason it refuses fwmark services: it never sees the marks of packets it does not
// receive.
//
// Each service's decision state is an immutable table built by Apply and swapped in with an
// atomic pointer, so a connection sees the whole old state or the whole new one.
//
// Connections are capped so that a flood of clients cannot take the descriptors the health
// checks need (caps.go): Options.MaxConn for every service together, which the supervisor sets
// from the descriptor budget, and Service.MaxConn for one. At a cap a listener stops accepting
// and new connections wait in its listen backlog; a new UDP flow is refused. A backend with
// UThreshold is overloaded, and passed over for the next one, from the admission that reaches
// it until its connections fall below LThreshold (three quarters of UThreshold without one),
// as IPVS does for uthreshold and lthreshold.
//
// On Linux, TCP connections run on event loops of the balancer's own (loop_linux.go,
// loop_conn_linux.go): one per GOMAXPROCS, each an epoll set holding both sockets of its
// connections, moving payload through a borrowed CopyBuffer-sized buffer, with no goroutine
// per connection. Options.Splice (splice(2) through a pipe per direction) and PlainCopy (Go's
// Read and Write) keep a goroutine per connection instead; UDP flows are goroutines too.
//
// A backend's death between two health checks is hidden from clients where a proxy can hide
// it (connect.go). A TCP connect that fails — refused, unreachable, or unanswered within the
// attempt's timeout, which is derived from the backend's connect times as TCP derives its
// retransmission timeout unless the service sets one — is retried on the next backend
// (redispatch) while the client's connection waits, up to the service's attempts. Every
// failed connection (those connects, a reset before the backend's first byte, a UDP flow
// answered by ICMP unreachable) is counted against its backend, in a row until the backend's
// next answer, and reported through Options.OnBackendFailure; the load-balancing half hands
// it to the pool, which decides whether to eject the backend (passive health). A UDP
// datagram is not redispatched: it went to the backend before the ICMP came back, and the
// balancer keeps no copy; the client's next datagram starts a new flow.
package userspace
