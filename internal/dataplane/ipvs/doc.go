// Package ipvs is vigil's IPVS data plane: each virtual service becomes a virtual service of the
// kernel's IP Virtual Server table, programmed over generic netlink with
// github.com/cloudflare/ipvs, as Keepalived's does. Packets are balanced by the kernel and never
// pass through vigil. It implements dataplane.Dataplane.
//
// # What the kernel must have
//
// The ip_vs module (modprobe ip_vs; the scheduler modules such as ip_vs_wrr or ip_vs_mh load on
// first use), and root or CAP_NET_ADMIN. Without ip_vs, New and Available fail with
//
//	ipvs: the kernel has no IPVS (modprobe ip_vs, or use dataplane nftables or userspace): ...
//
// and errors.Is(err, os.ErrNotExist) holds, so the daemon's "auto" choice can fall back. IPVS
// is per network namespace: New programs the namespace of the thread that calls it.
//
// # Mapping
//
//	dataplane.Service                 IPVS virtual service
//	Listen, Protocol                  address, port, protocol (tcp, udp), family from the address
//	Fwmark (then no Listen)           fwmark service: mark, family from the backends; IPVS keys it
//	                                  by family and mark and ignores the protocol, so a tcp and a
//	                                  udp service of one mark clash; DR/TUN destinations port 0
//	Scheduler                         scheduler name as given (rr wrr lc wlc lblc lblcr dh sh sed nq
//	                                  fo ovf mh twos, the kernel's own; "" is wlc), no fallback
//	Persistence                       persistent flag, timeout in seconds (rounded up)
//	PersistenceGranularity            netmask: /N of 32 for IPv4, prefix N of 128 for IPv6
//	HashPort with sh or mh            scheduler flag 2 (sh-port, mh-port)
//	Backends                          destinations: address, port, weight; weight 0 stays as an
//	                                  inhibited destination (quiescent, connections stay)
//	Sorry                             the only destination, weight 1, while no backend has
//	                                  weight > 0; removed when one has again
//	Options.DefaultForwarding         every destination's forwarding method (lb_kind)
//
// Not mapped, because IPVS has them only for the whole kernel, not per service: IdleTimeout
// (ipvsadm --set tcp tcpfin udp) and ShutdownSessions (sysctl net.ipv4.vs.expire_nodest_conn=1,
// which drops the packets of connections to removed destinations). Apply logs a warning when a
// service asks for them. Keepalived's ops (one-packet scheduling) and thresholds are not mapped
// yet.
//
// # lb_kind: NAT, DR, TUN
//
// NAT (the default) rewrites the destination address and port; replies must route back through
// the balancer (the backends' default route points at it), and the backend port may differ
// from the service's. DR rewrites only the MAC address: backends share a link with the
// balancer and hold the virtual address on a non-ARPing interface (lo with arp_ignore=1,
// arp_announce=2), answering clients directly. TUN encapsulates in IPIP; backends decapsulate
// (a tunl0 interface holding the virtual address, rp_filter off) and answer directly. With DR
// and TUN the kernel uses the service's port for every destination, so vigil does too, and two
// backends on one address are an error. dataplane.Service has no lb_kind field yet:
// A service's Forwarding (lb_kind) applies to its destinations; Options.DefaultForwarding to
// services that name none.
//
// # Changes
//
// Apply reads the kernel's service and destinations and makes the fewest calls that turn them
// into the wanted state: scheduler and persistence changes update the service in place; a new
// address, port or protocol creates the new service with its destinations first, then removes
// the old. Destinations are added, then weights raised, then weights lowered, then departed
// destinations removed, so a service with a live destination before and after never has none
// in between. IPVS takes each call on its own, so unlike the nftables data plane an Apply is
// not atomic: a connection that arrives during one may see an intermediate state. Re-applying
// the same state makes no change; a change made behind vigil's back (ipvsadm) is undone by the
// next Apply or Reconcile. When an Apply fails on a service it had just created, that service is
// removed again.
//
// A removed destination's established connections stay until they end (IPVS moves it to its
// trash); a destination at weight 0 keeps its connections and gets no new ones.
//
// # Ownership
//
// vigil changes only the virtual services that an Apply named, and remembers them by name.
// Services already in the kernel when New runs are left alone; if an Apply names the address,
// port and protocol of one (left by a previous run with Options.KeepOnClose, or by ipvsadm), vigil
// adopts it and makes it match, logging "adopting a service already in the kernel". Remove and
// Close remove only vigil's services; Close leaves them with Options.KeepOnClose.
//
// # Reconcile
//
// Reconcile reads each of vigil's services and its destinations back (IPVS has no generation
// counter that would tell that nothing changed, so this is two netlink requests per service
// each time) and compares them with the last state applied. A missing service is created with
// its destinations; changed settings are updated in place (one UpdateService); a missing
// destination is added, one added by hand removed, a changed weight or forwarding method set
// back (one call each, in Apply's order). It returns one Repair per difference. The drifts,
// each with the ipvsadm command that makes it on a real kernel (the fake kernel's test,
// TestReconcilePutsBackWhatWasChangedByHand, makes each the same way):
//
//	service deleted              ipvsadm -D -t 192.0.2.10:80  (fwmark: ipvsadm -D -f 5)
//	scheduler changed            ipvsadm -E -t 192.0.2.10:80 -s rr
//	persistence turned on        ipvsadm -E -t 192.0.2.10:80 -s wlc -p 60
//	persistence timeout changed  ipvsadm -E -t 192.0.2.10:80 -s wlc -p 600 -M 255.255.255.0
//	persistence netmask changed  ipvsadm -E -t 192.0.2.10:80 -s wlc -p 300 -M 255.255.0.0
//	sh-port flag cleared         ipvsadm -E -t 192.0.2.10:80 -s sh
//	destination deleted          ipvsadm -d -t 192.0.2.10:80 -r 198.51.100.2:8080
//	destination added by hand    ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.9:8080 -m -w 5
//	weight changed               ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.1:8080 -m -w 0
//	forwarding method changed    ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1
//
// The timeout and netmask are compared only while the service wants persistence, as Apply
// does. The kernel gives DR and TUN destinations the service's port, so the forwarding example
// uses a backend on port 80.
// A service an Apply replaced (new address, port or protocol) but could not remove is removed
// too. A repair that fails is reported with its error, and Stats' NotServing says what is
// missing until a Reconcile or an Apply puts the service in place.
//
// To verify on a kernel with IPVS: run vigil (or TestRealIPVS, which changes the scheduler and
// deletes a destination behind the data plane's back and checks that Reconcile repairs both),
// make one of the changes above, and watch the next Reconcile's repair in the log and ipvsadm
// -Ln show the service as before. Services vigil did not make are never read or changed.
//
// # Stats
//
// From the kernel's destination counters: Active is IPVS's active connection count, Total,
// BytesIn and BytesOut its 64-bit connection and byte counters. IPVS does not list a removed
// destination that still drains, and counts no refusals or dial failures, so Draining, Refused
// and DialFailures stay zero.
//
// # Running the real test
//
// The fake kernel in the tests checks every call Apply makes. TestRealIPVS programs a real
// kernel, in a network namespace it creates; it skips when the kernel has no IPVS:
//
//	modprobe ip_vs
//	sudo go test -run TestRealIPVS -v ./internal/dataplane/ipvs
//
// # The sync daemon
//
// SyncDaemons starts and stops the kernel's IPVS sync daemon (Keepalived's lvs_sync_daemon),
// which sends the master's connection table to the backup over multicast, through the IPVS
// generic netlink family itself (IPVS_CMD_NEW_DAEMON, IPVS_CMD_DEL_DAEMON, IPVS_CMD_GET_DAEMON
// with IPVS_CMD_ATTR_DAEMON's nested attributes): cloudflare/ipvs has no call for it. Follow
// puts the daemons where Keepalived's VRRP process does for a state: master on MASTER (the
// backup daemon stopped first), backup on BACKUP and FAULT, none otherwise; a daemon already
// running with the same settings is left alone. The tests check the messages' bytes and the
// sequence against a fake of the family; docs/configuration.md says how to check on a kernel
// with IPVS (ipvsadm -L --daemon).
package ipvs
