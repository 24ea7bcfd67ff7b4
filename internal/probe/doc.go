// Package probe is the check engine: it runs the probes of checkers on time, a bounded number at
// once, with Keepalived's retry semantics, and hands their results on. It owns
//
//   - the types every checker and the scheduler share: Checker, Result, and the PolledChecker
//     and Pending interfaces of probes that run without a goroutine (checker.go, polled.go);
//   - the Scheduler (scheduler.go): Job, Report, JobStatus, the due heap (dueheap.go), the
//     mailbox that hands reports to the sink (scheduler_mailbox.go) and the lateness histogram
//     (scheduler_lateness.go);
//   - the poller, one goroutine with an epoll set that moves polled probes on
//     (scheduler_poller.go);
//   - the probes' TCP sockets: the non-blocking connect (tcp_connect.go: Endpoint, Socket),
//     the Scheduler's SocketPool (socket_pool.go) and the raw system calls they make
//     (rawsys.go).
//
// It knows no checker kind: the checkers are in package check.
//
// # A new kind of probe
//
// A checker implements Checker: Kind, Target and Key name it, and Check(ctx) runs one probe on
// a worker goroutine, bounded by ctx's deadline. That is all most kinds need.
//
// A kind whose probe is a few system calls on one TCP socket at a time can run without a
// goroutine, which at thousands of probes a second costs less than the probe itself: it
// implements PolledChecker as well. Pollable says whether a given checker can (an SSL_GET cannot:
// its TLS handshake needs a goroutine). StartProbe takes the steps that never wait, on a Socket
// from Endpoint.Connect or Endpoint.Open with the SocketPool it is given, and returns either the
// result or a Pending: Wait names the socket and the epoll events it waits for, Ready moves it
// on when they come (Socket.Read and Socket.Write never block), Expire ends it at its deadline
// and Fail at once. Each ends the probe by closing its Socket, which gives it back to the pool.
// The engine calls a Pending from one goroutine at a time, never after it has ended.
package probe
