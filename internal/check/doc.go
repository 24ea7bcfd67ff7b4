// Package check holds Keepalived's checkers, one file per kind, each a probe.Checker: TCP_CHECK
// (tcp_check.go), HTTP_GET and SSL_GET (http_check.go, with http_reply.go reading the answer),
// SMTP_CHECK, DNS_CHECK, MISC_CHECK, PING_CHECK (with the shared ICMP sockets of package icmp),
// UDP_CHECK, FILE_CHECK and gRPC. A checker knows how to probe one target one way and what the
// answer means; when and how often it runs, retries and the sockets it borrows are the engine's,
// package probe.
//
// TCP_CHECK and plain HTTP_GET are also probe.PolledCheckers: beside Check, which runs on a
// goroutine, they start a probe on a socket the engine lends (StartProbe) and hand back what is
// left as a probe.Pending that the engine's poller moves on, so that under the scheduler they
// run without a goroutine of their own.
package check
