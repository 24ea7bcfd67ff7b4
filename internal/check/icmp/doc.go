// Package icmp sends ICMP and ICMPv6 echo requests for PING_CHECK through one shared socket per
// address family. A Pinger owns the socket and a single reader goroutine that hands each echo
// reply to the Ping call waiting for it, matched by sequence number and source address (and by
// identifier on raw sockets). It uses a raw socket when it may (root or CAP_NET_RAW) and the
// kernel's unprivileged ping sockets otherwise (net.ipv4.ping_group_range); there, the kernel
// picks the identifier, so replies are matched on sequence and source alone.
package icmp
