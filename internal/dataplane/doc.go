// Package dataplane is the boundary between the pool's decisions and the machinery that moves
// packets. The pool decides which real servers are in each virtual service and with what weight;
// a Dataplane applies that whole decision at once and never decides anything itself.
//
// Implementations live in sub-packages: userspace (a TCP/UDP proxy that needs no privilege and is
// vigil's default), and kernel-backed ones (nftables, ipvs). They all take the same Service value,
// so the daemon can switch between them without translating its model.
package dataplane
