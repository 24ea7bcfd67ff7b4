// Package discovery finds a virtual server's members in DNS (vigil's dynamic_real_servers): an
// SRV name (dns_srv, as Consul's DNS interface and Kubernetes headless Services answer it) or
// an A/AAAA name with a fixed port (dns_name), asked of one resolver. It knows nothing of pools
// or schedules: Resolver.Lookup asks once and returns the members and the least TTL of the
// records they came from; Interval says when to ask again. The load-balancing half (package
// lb) runs the lookups, keeps the last answer when DNS fails, and adds, drains and removes the
// members in the pool.
//
// # What an answer means
//
//   - SRV: the members are the targets of the lowest priority value in the answer (RFC 2782:
//     the others are for when those cannot be reached, a failover vigil's pools do not have),
//     each address of a target with the record's port. A target's addresses come from the
//     answer's additional section when it has them (Consul and CoreDNS send them), else from
//     an A or AAAA query. The SRV weight is not the member's weight (see Member.Weight).
//   - A name (dns_name): its addresses, through any CNAME, each with the fixed port.
//   - Only the virtual server's family is asked: A for IPv4, AAAA for IPv6.
//   - NOERROR or NXDOMAIN with no records is an answer with no members: the name says there
//     is nobody (a Deployment scaled to zero). SERVFAIL, REFUSED, a timeout or a malformed
//     answer is a failure, and the caller keeps the last answer.
//   - A truncated UDP answer is asked again over TCP; queries carry EDNS0 with a 4096-byte
//     buffer, so that 64 members fit in one datagram.
package discovery
