// Package supervisor runs vigil: it builds the parts a configuration asks for (Build), starts
// them in order and stops them in reverse, stops everything when one part stops early, and fans
// a reload out to every part once the reload guard has let it through.
//
// The parts, in start order:
//
//	status   the status page, API, event stream and metrics (internal/status)
//	lb       the load-balancing half: checks, pools, the data plane (internal/lb); not with -P
//	ctsync   conntrackd for conntrack_sync (internal/ctsync); only with that block
//	ipvs-sync   the kernel's IPVS sync daemon for lvs_sync_daemon (continuity.go); only with
//	         it, an instance to follow and the ipvs data plane
//	vrrp     the VRRP half (internal/vrrp); only with VRRP instances, not with -C
//	bgp      the BGP speaker (internal/bgp); only with a bgp block, not with -P
//	control  the control socket, the operators' commands without a token (internal/control);
//	         only with control_socket
//
// So at stop BGP withdraws first (routers move traffic away while it is still served), then
// VRRP resigns (a peer takes the address at once), then the load-balancing half and its data
// plane stop, and the status page goes last. Before any part runs, every part binds what it
// must hold (Part.Bind): a port vigil cannot have stops it at start.
//
// The parts do not call each other. The load-balancing half publishes its events on a bus
// (internal/bus); the observers wired here subscribe to it: the metrics, the event stream,
// notify scripts, VRRP's pool tracking (track_virtual_server) and BGP's announcements (the
// pure bgp.Policy decides, the speaker carries out). VRRP state changes reach the metrics, the
// event stream, the BGP policy, conntrackd's driver and the IPVS sync daemon's follower the
// same way, from the VRRP half's callback; the last two keep the latest state and act on their
// own goroutines, so the callback never waits for conntrackd or the kernel. They start before
// the VRRP half and stop after it, so its resignation at stop still reaches them.
//
// The operators' commands (control.go) come by the control socket and the status API's write
// endpoints to one controller, which hands them to the load-balancing half (a real server's
// admin state or weight) or the VRRP half (an instance's resignation), one at a time, and keeps
// the state file under state_dir in step: written after each change and each reload, read back
// by Build before anything runs, so that a server in maintenance never takes a connection
// after a restart.
//
// A new part implements Part (an adapter in parts.go, when its package should not know the
// supervisor's interface) and is added to Build in its place in the start order. A new observer
// subscribes to the half's bus in Build (observers.go).
package supervisor
