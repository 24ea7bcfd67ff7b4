// Package vrrp is vigil's VRRP implementation (RFC 3768 VRRPv2 and RFC 5798 VRRPv3), split so
// that the parts that decide are free of I/O:
//
//   - packet encodes and decodes advertisements (v2 and v3, IPv4 and IPv6, checksums with the
//     pseudo-header, PASS authentication, the IPsec AH header Keepalived puts in front) and
//     says why a packet was refused.
//   - fsm is the per-instance state machine (Initialize, Backup, Master, Fault) as a pure
//     function of events and time: it is told what happened and when, and answers with
//     actions and its next deadline.
//   - this package is the I/O layer: a Manager runs one goroutine per vrrp_instance that owns
//     a raw IP protocol 112 socket bound to the instance's interface (joined to 224.0.0.18 or
//     ff02::12, multicast loopback off, TTL/hop limit 255; or unicast to unicast_peer from
//     unicast_src_ip), feeds accepted advertisements and timer deadlines to the machine, and
//     carries out its actions: adverts, virtual addresses through netif (with gratuitous
//     ARP / unsolicited NA per garp_master_delay, _repeat and _refresh), notify scripts through
//     notify.Runner on a per-instance queue so the instance never waits for a script.
//
// The receive path drops packets from another interface, the instance's own, other VRIDs
// (uncounted), and, for unicast, senders that are not peers (counted as unknown_peer); it
// checks the TTL/hop limit from the IP header or control message (multicast only), decodes,
// and applies packet.Expect; every refusal is counted by packet.Reason (InstanceStatus.Dropped)
// and logged at debug with the sender's address, at most once per reason and instance a
// second with the number of refusals left out since the last line (refusal_log.go). Address
// count or list mismatches are counted but, as in Keepalived, the advert is still used. An
// IPv6 multicast advert must come from a link-local address (RFC 5798 section 5.1.2.1);
// unicast peers may be global addresses, as in Keepalived.
//
// Tracking (package track and netif.WatchLinks) turns vrrp_script, track_file and
// track_interface (and the instance's own interface unless dont_track_primary) into
// Keepalived's weights or faults. A sync group faults all its members while any member has a
// fault of its own. Its members also change state together, as Keepalived's vrrp_sync.c: a
// member whose master down timer runs out only wants master (fsm.Config.Synced) until every
// member wants it or is master, then all go MASTER at once (fsm.Machine.ForceMaster); a member
// leaving MASTER for BACKUP takes the others with it (ForceBackup). The group's notify scripts
// run when the group as a whole becomes MASTER, BACKUP or FAULT. An address owner in a group
// does not go MASTER alone: it wants master at once and goes with its group. An instance that
// cannot open its interface (missing, or without an address) is in FAULT, with its group.
//
// A reload keeps each instance's state as Keepalived does: an instance that is the same
// virtual router (interface, VRID, family, version, unicast mode, source, multicast group and
// sync group unchanged) takes its new priority, advert_int, addresses, routes, tracking and
// scripts in place; a master keeps the addresses that stay and advertises at once, without a
// priority 0 resignation. Only a changed identity restarts an instance.
//
// An operator may resign an instance (Manager.Resign, resign.go; `vigil ctl resign`): a master
// sends priority 0 and becomes BACKUP, and the instance stays out of MASTER, whatever its
// priority, timers or sync group say, until Manager.Ready. The resignation outlives a reload
// that keeps the instance and, through the supervisor's state file, a restart.
//
// A master's kernel state is read back, not assumed (reconcile.go): while MASTER an instance
// reads back its virtual addresses (virtual_ipaddress and virtual_ipaddress_excluded), routes
// and rules every ManagerOptions.ReconcileInterval (DefaultReconcileInterval, 2 s, when 0) and
// at once when the Manager's watchers (netif.WatchAddresses, WatchRoutes, WatchRules: one each
// for all instances) see the kernel drop one, and puts back what is missing, announcing a
// re-added address again. The repair runs on the instance's goroutine, so a backup never adds
// anything. Each repair is counted (InstanceStatus.Repairs), logged and reported
// (ManagerOptions.OnRepair); what cannot be put back is named with the reason in
// InstanceStatus.NotInPlace, reported once per distinct error and retried at the interval.
// Entries Keepalived does not track (no_track, or a route without an interface) are left
// alone until the next takeover; where Keepalived leaves MASTER over a tracked entry that went
// away, vigil repairs it in place.
//
// Every instance and sync group state change (and MASTER_RX_LOWER_PRI, and with
// notify_priority_changes MASTER_PRIORITY/BACKUP_PRIORITY) is written to global_defs
// notify_fifo and vrrp_notify_fifo in Keepalived's line format; their notify_fifo_script runs
// with the fifo's path while the fifo is open.
//
// use_vmac runs the instance on a private-mode macvlan with the virtual router's MAC (vmac.go);
// track_process watches /proc every second (tracker_process.go); virtual_rules follow
// mastership and static_rules the Manager's life (rules.go); a sync group's tracked objects
// reach every member (tracker_group.go); track_virtual_server follows a pool's quorum
// (tracker_pool.go); vrrp_rt_priority runs the VRRP half with real-time scheduling (rt.go);
// auth_type AH sends and receives IP protocol 51 as Keepalived does (ah.go, packet/ah.go).
//
// Not done: use_ipvlan, track_bfd, a sync group's notify_stop,
// fifo_write_vrrp_states_on_reload, check_unicast_src. One socket per instance: instances on
// one interface each read every VRRP packet on it.
package vrrp
