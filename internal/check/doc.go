// Package check probes real servers: one file per checker kind (ICMP, TCP, UDP, HTTP/HTTPS, SMTP,
// DNS, gRPC, scripts, files), all behind the Checker interface, and the Scheduler that runs them
// on time, a bounded number at once, with Keepalived's retry semantics.
package check
