// Package vrrp is the home of vigil's VRRP implementation (RFC 3768 VRRPv2 and
// RFC 5798 VRRPv3), split so that the parts that decide are free of I/O:
//
//   - packet encodes and decodes advertisements (v2 and v3, IPv4 and IPv6,
//     checksums with the pseudo-header, PASS authentication, the IPsec AH
//     header Keepalived puts in front) and says why a packet was refused.
//   - fsm is the per-instance state machine (Initialize, Backup, Master,
//     Fault) as a pure function of events and time: it is told what happened
//     and when, and answers with actions and its next deadline.
//
// The instance I/O layer (sockets, netlink, timers) wires the two together and
// is the only part that touches the network.
package vrrp
