package lb

import (
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/pool"
)

// Event is what the half publishes on its bus (Half.Events): exactly one of its pointer fields
// is set. The half does not call its observers; they subscribe (internal/supervisor wires
// metrics, the event stream, notify scripts, VRRP's pool tracking and BGP's announcements).
type Event struct {
	// VS names the virtual server, as lvs.VirtualServer.Name does.
	VS string
	// Pool is a change of its pool: a real server up or down, quorum, weights, the sorry
	// server; Pool.Script is a notify script to run.
	Pool *pool.Event
	// State is the virtual server's state after one or more changes. It is published with
	// the virtual server as its key: a subscriber that falls behind sees the latest.
	State *State
	// Note is something that happened to the virtual server that is not a pool decision (a
	// data plane error, a repair, a change of whether it is served, a reload adding or
	// removing it), for the event stream and the counters.
	Note *Note
	// Gone says the virtual server was removed (by a reload): observers forget it.
	Gone bool
}

// State is one virtual server as observers follow it.
type State struct {
	// Config is the virtual server's block as running (its announce block, say).
	Config *lvs.VirtualServer
	// Up and Total count its real servers in the pool and configured; QuorumUp says whether
	// the pool has quorum.
	Up, Total int
	QuorumUp  bool
	// Serving says whether it is served now (serving.go), and ServingReason why not.
	Serving       bool
	ServingReason string
	// Servers are its real servers (not the sorry server), in configuration order.
	Servers []ServerState
}

// CanServe is what track_virtual_server and BGP announcements follow: the pool has quorum and
// the virtual server is served.
func (s *State) CanServe() bool { return s.QuorumUp && s.Serving }

// ServerState is one real server as observers follow it.
type ServerState struct {
	ID string
	Up bool
	// Weight is the weight the data plane uses now (0 while out or inhibited).
	Weight int
	// Admin is the server's admin state in force (ready, drain, maint): the operator's, or
	// its agent's or discovery's when theirs is the more restrictive.
	Admin pool.AdminState
}

// Note kinds.
const (
	NoteServing    = "serving"
	NoteNotServing = "not serving"
	NoteRepair     = "repair"
	NoteDataplane  = "dataplane"
	NoteService    = "service"
	// NoteDiscovery: the DNS lookups of dynamic_real_servers failed (the last answer stays),
	// answer again, or answer more members than max.
	NoteDiscovery = "discovery"
)

// Note is one thing that happened, in the words of the event stream.
type Note struct {
	Kind    string
	Message string
	// Failed is set on a repair that did not work.
	Failed bool
}

// publishLocked hands ev to the bus; d.mu is held (publishing never blocks).
func (d *Half) publishLocked(ev Event) {
	key := ""
	if ev.State != nil {
		key = ev.VS
	}
	d.events.Publish(key, ev)
}

// noteLocked publishes a note about vs.
func (d *Half) noteLocked(vs, kind, message string, failed bool) {
	d.publishLocked(Event{VS: vs, Note: &Note{Kind: kind, Message: message, Failed: failed}})
}

// stateLocked publishes svc's state. Nothing is published before Listen: a service that has not
// been applied yet has no state worth following.
func (d *Half) stateLocked(svc *service) {
	if !d.listened {
		return
	}
	up, total, quorumUp := svc.pool.Counts()
	st := &State{Config: svc.vs, Up: up, Total: total, QuorumUp: quorumUp, Serving: svc.serving, ServingReason: svc.servingReason}
	for _, s := range svc.pool.Snapshot().Servers {
		if _, real := svc.addrs[s.ID]; real && (svc.spec.Sorry == nil || s.ID != svc.spec.Sorry.ID) {
			st.Servers = append(st.Servers, ServerState{ID: s.ID, Up: s.Up, Weight: s.DesiredWeight, Admin: s.AdminState})
		}
	}
	d.publishLocked(Event{VS: svc.name, State: st})
}
