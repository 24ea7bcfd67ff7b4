// Package nftables is vigil's kernel data plane: each virtual service becomes destination NAT
// rules in one nftables table that vigil owns, so packets are balanced by the kernel and never
// pass through vigil's process. It implements dataplane.Dataplane.
//
// # The table
//
// vigil owns one table of the inet family (Options.Table, "vigil" by default). inet rather
// than ip and ip6: one table, one set of hooks and one transaction serve IPv4 and IPv6
// services alike (NAT in inet chains needs Linux 5.2). vigil never reads or changes any other
// table; New replaces whatever its own table holds (a previous run's state) in one
// transaction; Close deletes it unless Options.KeepOnClose.
//
//	chain prerouting   nat hook, dstnat:  meta l4proto . meta mark vmap @fwmarks4 (and 6), then
//	                                      meta l4proto . ip daddr . th dport vmap @services4 (and ip6)
//	chain output       nat hook, dstnat:  the same, for clients on the balancer itself
//	chain invalid      filter hook, prerouting, mangle: ct state invalid meta l4proto . ip daddr . th dport @listen4 drop
//	chain postrouting  nat hook, srcnat:  ct status dnat meta l4proto . ip daddr . th dport @backends4 masquerade
//	                                      (or snat ip to Options.SNAT, or nothing with NoMasquerade)
//	chain vsN          one per service:   dnat ip to numgen inc mod 6 map @vsN_slots; counter
//	map vsN_slots      slot number -> backend address . port, a backend once per share
//	set backends4/6    every service's backends, a counter per element
//	map fwmarks4/6     protocol . mark -> vsN of a fwmark service
//	set listen4/6      every address service's protocol . address . port
//
// A fwmark service (dataplane.Service.Fwmark, Keepalived's virtual_server fwmark N) takes the
// packets of its protocol and family that carry its mark, whatever their destination address
// and port; the mark must be set by the administrator's own rules before dstnat (priority
// mangle in prerouting, or route/output for local clients). Marks are looked up before
// addresses, so a marked packet goes to its fwmark service even when an address service has
// its destination (IPVS also looks fwmark services up first). The service's family is its
// backends'; packets of the other family with the mark are not translated, nor are those of
// another protocol. Active and ShutdownSessions recognise a fwmark service's connections by
// their translated destination only, so a backend shared with another service of the same
// protocol is counted for both.
//
// Only the first packet of a connection (a flow, for UDP) traverses nat chains; the rest follow
// the conntrack entry, so the per-packet cost is conntrack's, not the ruleset's.
//
// # Atomic changes
//
// Every Apply, Remove, New and repair is one nftables transaction (one netlink batch): the
// slot map is rewritten and the rule holding its modulus is replaced together, so a new
// connection sees the old state or the new one, never a map of one size indexed by the other.
// The namespace test changes weights ~90 times in 2 s under load without a failed request.
//
// # Schedulers
//
// dataplane.Effective's fallbacks apply first, then the kernel's own, because nftables has no
// per-backend connection counts to balance on:
//
//	rr          numgen inc mod N over the backends with weight > 0, once each
//	wrr         numgen inc mod N over slots repeating each backend weight/gcd times, in smooth
//	            weighted round-robin order (so a weight's share is spread over the cycle);
//	            at most 1024 slots, larger weight sums are scaled down, every live backend keeps one
//	lc          runs as rr; wlc (and sed, nq, twos, and the empty lb_algo) runs as wrr
//	sh          jhash ip saddr mod N over the wrr slots (lblc, lblcr, dh fall back to it)
//	mh          jhash ip saddr mod 1021 over a Maglev table, so removing one backend moves
//	            about that backend's clients only
//	fo          the first backend with the highest weight (ovf falls back to it)
//
// Stats reports the running scheduler (for example wrr for wlc).
//
// # Weights, removal, sorry server
//
// Weight 0 takes a backend out of the slot map: no new connections; established ones keep
// their conntrack entry and flow until they end. A backend removed by Apply is treated the
// same way (drain): its connections live on in conntrack after Apply returns, while no new
// connection reaches it. With ShutdownSessions, Apply and Remove delete the conntrack entries
// of connections to the backends that left (one conntrack dump and a delete per entry): the
// next packet of such a connection is new to conntrack, is balanced to a backend still in the
// set, which answers with a reset, so the client sees the reset on its next packet rather than
// at once. When no backend has
// weight > 0 the sorry server is the only slot; when there is no sorry server either, the
// service chain only counts the connection (Stats' Refused) and lets it reach the local stack,
// which refuses it (a TCP reset, or ICMP port unreachable for UDP) unless something listens on
// the virtual address itself.
//
// # Persistence
//
// With persistence_timeout the service chain first sends a client found in a backend's
// client set (ip saddr @vsN_bK_clients goto vsN_bK) to that backend's chain, which refreshes
// the client's entry (update @vsN_bK_clients { ip saddr }, timeout persistence_timeout) and
// translates; other clients go through the slot map, a verdict map here, to the same chains.
// A backend that leaves the active set takes its client set with it, so its clients are
// balanced afresh while every other client keeps its backend. One set per backend, rather than
// one map from client to backend, because nft cannot list a rule that stores a map lookup's
// result in a dynamic map, and the ruleset must stay listable with nft list.
//
// # lb_kind
//
// NAT is what this data plane does: the balancer rewrites the destination of each new
// connection to a backend and conntrack rewrites the replies back, so replies must return
// through the balancer. By default postrouting masquerades translated connections (only those
// to one of vigil's backends) to the balancer's address on the backend side, which works with
// any routing but hides the client address from the backends; Options.NoMasquerade keeps the
// client address, as Keepalived's lb_kind NAT with IPVS does, and then the backends must route
// their replies through the balancer (default gateway).
//
// Options.SNAT translates the source to an address every node of a cluster shares instead (a
// VRRP address on the backend side): a connection moved to another node, with its conntrack
// entry synced by conntrackd (internal/ctsync) or picked up there mid-stream, then reaches its
// backend from the same address and, NAT keeping the client's port where it can, the same port.
// Masquerading cannot survive a move: the backend answers the dead node's address.
//
// # Continuity
//
// A synced conntrack entry carries its NAT; the kernel treats it as an established connection,
// and nat chains only see a connection's first packet, so the rules never translate a synced
// flow again. A packet to a service that conntrack calls invalid (the handshake's last ACK on a
// node that has not yet heard the backend answered through another node) is dropped by the
// invalid chain rather than reaching the local stack, which holds the virtual address and
// would reset the client; its retransmission finds the state. (The chain cannot look the
// dispatch maps up: a filter chain may not reach their verdicts' NAT rules, hence the listen
// sets.) Options.FlowHash replaces numgen's turns, which are each node's own, by jhash ip saddr
// . th sport over a Maglev table built from the backends' addresses in address order, so every
// node with the same backends sends a connection to the same one: a flow an ECMP router moves,
// or a new master picks up without its state, keeps its backend.
//
// DR (direct routing) cannot be built from nat chains: it forwards the unchanged IP packet to
// the backend's MAC address and the backend answers the client directly, so the balancer
// sees only one direction and conntrack cannot help. nftables can approximate it statelessly
// in the netdev family (ingress hook: fwd ip to <backend> device <dev>, choosing the backend by
// a jhash of the 5-tuple so every packet of a connection picks the same one), with the
// backends holding the virtual address on a loopback with arp_ignore/arp_announce, exactly as
// for IPVS DR. Without conntrack any change of the backend set remaps some established
// connections, and weight 0 cannot let established connections drain. TUN (IP-in-IP to the
// backend) has no nftables expression at all; it would take a mark per backend, policy
// routing and one tunnel device per backend. vigil does neither here: DR and TUN are the ipvs
// data plane's.
//
// # Idle timeout
//
// IdleTimeout becomes a ct timeout object (vsN_idle) that the service chain attaches to each
// new connection: conntrack forgets an established TCP connection, or a UDP flow, after that
// long without a packet (rounded up to whole seconds; TCP's other states keep conntrack's
// defaults). Forgetting is not closing: the next packet of a forgotten TCP connection is
// balanced afresh, and answered with a reset unless it lands on the same backend. Without
// IdleTimeout, conntrack's own timeouts apply (5 days for established TCP by default).
//
// # Reconcile
//
// Reconcile (which the daemon calls every few seconds and when addresses change) puts back
// what someone else changed in vigil's table: nft flush ruleset, nft delete table, a chain
// flushed, a rule deleted or replaced, a map element deleted or changed, the table made
// dormant, a chain or set added to it.
//
// The common case costs one netlink request (about 30 µs): the kernel counts every committed
// transaction in a ruleset generation (NFT_MSG_GETGEN), vigil reads it before and after each
// of its own commits, and when the generation moved by exactly one the new generation is
// vigil's, with the table as the services want it. While the kernel's generation still equals
// that one, nobody committed anything, and Reconcile reads nothing. Packets filling the
// persistence sets, and their entries expiring, are no commits. When the generation moved
// (any table's change does, and so does an Apply that raced another program's commit),
// Reconcile reads the table back: its flags, its chains (type, hook, priority, policy), every
// rule, the sets, and the elements of every map and set except the persistence client sets.
// It compares them with what the same builders Apply uses would write (rules compare after
// the kernel's own rewriting: registers listed by their 16-byte numbers, NAT ranges with both
// ends, counters at zero). With 1,000 services of 20 backends (20,000 backends and about 40,000
// slots) that read takes about 350 ms, most of it one element dump per map; a table found in
// place is then known to be so at the generation read before, so the next Reconcile is cheap
// again.
//
// Any difference is repaired by reinstalling the whole table in one transaction, exactly as
// New followed by every Apply would (one code path, rebuild): a connection sees the broken
// table or the whole new one. Established connections keep their conntrack NAT bindings and
// flow on; the counters (Stats' Total and Refused) and the persistence client sets start
// again from empty, so persistent clients are balanced afresh once. Reconcile returns one
// Repair per chain, map or set that differed (Service names the service that owns it, empty
// for the table's own hooks and shared maps), or a single one when the table is missing.
// Repairs took 2 to 6 ms in the namespace test.
//
// A repair can fail: another program may hold a table of that name with the owner flag (only
// its netlink socket may change the table, until it closes). Then the Repair carries the
// kernel's error (EPERM), Stats' NotServing says what is missing for each service, and the
// next Reconcile, Apply or Remove reinstalls the whole table; NotServing clears when one
// succeeds.
//
// There is no watch of nftables' netlink notifications: a repair made on a notification would
// not reach the daemon, which logs and counts the Repairs that Reconcile returns, and with
// the generation check the daemon's periodic Reconcile costs one request.
//
// # Stats
//
// Total counts connections per backend in postrouting, once per connection, on the shared
// backends4/6 sets, so a backend used by two services with the same protocol shows the sum in
// both. Active (established TCP connections, UDP flows) and Draining come from a conntrack
// dump per Stats call, whose cost grows with the whole conntrack table. Bytes and dial
// failures are not known. NAT between address families is refused by Apply.
package nftables
