// Package ctsync keeps the connection tracking table of a load balancer in step with its peer's,
// through conntrackd (conntrack-tools) in FTFW mode, so that the connections a node forwarded
// survive its death: the node that takes over has their conntrack entries, NAT included.
//
// vigil writes no sync protocol of its own. Daemon writes a conntrackd.conf (Render), runs
// conntrackd as its child (or drives one the administrator runs, Config.ConfPath), and tells it
// of the VRRP instance's transitions with conntrackd's own commands, as the conntrack-tools'
// primary-backup.sh does for Keepalived's notify scripts:
//
//	MASTER   -c  commit the external cache (the peer's connections) into the kernel table
//	         -f  flush the internal and external caches
//	         -R  resynchronise the internal cache with the kernel table
//	         -B  send the whole internal cache to the peer (a bulk update)
//	BACKUP   -t  schedule the purge of the kernel table's entries of connections this node
//	             forwarded as master (zombies, after conntrackd's PurgeTimeout)
//	         -n  ask the master for a resync of its connections into the external cache
//	FAULT    -t
//
// Without an instance (active-active, every node forwarding at once, as behind an ECMP
// router) the entries a node hears of go straight into its kernel table (DisableExternalCache
// on) and the only command is -n, once conntrackd runs, to hear of the connections the peers
// already have.
//
// Transition never blocks (it is called from the VRRP half's callback): the commands of the
// latest state are run in order on Daemon's own goroutine, once conntrackd answers; a state
// that comes while commands run replaces any still waiting. When conntrackd exits, Daemon
// starts it again and runs the current state's commands again (a new conntrackd has empty
// caches).
package ctsync
