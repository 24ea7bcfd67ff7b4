// Package ctsync keeps the connection tracking table of a load balancer in step with its peer's,
// through conntrackd (conntrack-tools) in FTFW mode, so that the connections a node forwarded
// survive its death: the node that takes over has their conntrack entries, NAT included.
//
// vigil writes no sync protocol of its own. Daemon writes a conntrackd.conf (Render), runs
// conntrackd as its child (or drives one the administrator runs, Config.ConfPath), and tells it
// of the VRRP instance's transitions with conntrackd's own commands.
//
// # Where the peer's entries wait
//
// The conntrack-tools' primary-backup.sh, which Keepalived's notify scripts run, keeps the
// master's entries in the backup's external cache and commits them into the kernel table when
// the backup becomes master. That leaves a window: the virtual address has moved, the client's
// next packets arrive, and the commit has not run yet (the lab measured 40 to 300 ms between
// the MASTER transition and the commit's end). A packet in that window finds no entry, is
// picked up mid-stream by the NAT rules as a new connection, may be sent to another backend
// (which resets it), and the commit then fails for that entry (it exists). So by default
// vigil's conntrackd injects the peer's entries into the kernel table as they come
// (DisableExternalCache on), and a takeover finds them there, NAT included:
//
//	MASTER   -f  flush the internal cache (and the external one, unused)
//	         -R  resync the internal cache with the kernel table, which now holds the dead
//	             master's connections too
//	         -B  send them all to the peer (a bulk update), for when it comes back
//	BACKUP   -n  ask the master for its connections (a returning node resyncs here, before
//	             it may take the address back: see preempt_delay)
//	FAULT    nothing: the entries stay in the kernel for the next takeover
//
// The cost is the backup's kernel table holding every connection of the master (the same
// memory as on the master) and conntrackd's writes into it. Config.ExternalCache
// (conntrack_sync external_cache) keeps primary-backup.sh's way instead:
//
//	MASTER   -c  commit the external cache into the kernel table
//	         -f  flush the internal and external caches
//	         -R  resync the internal cache with the kernel table
//	         -B  send a bulk update to the peer
//	BACKUP   -t  schedule the purge of the entries of connections this node forwarded as
//	             master (zombies, after conntrackd's PurgeTimeout)
//	         -n  ask the master for a resync into the external cache
//	FAULT    -t
//
// Without an instance (active-active, every node forwarding at once, as behind an ECMP
// router) entries are injected the same way and the only command is -n, once conntrackd
// runs, to hear of the connections the peers already have.
//
// Transition never blocks (it is called from the VRRP half's callback): the commands of the
// latest state are run in order on Daemon's own goroutine, once conntrackd answers; a state
// that comes while commands run replaces any still waiting. When conntrackd exits, Daemon
// starts it again and runs the current state's commands again (a new conntrackd has empty
// caches).
package ctsync
