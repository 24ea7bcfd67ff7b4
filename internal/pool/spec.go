package pool

import (
	"fmt"
	"math"
	"time"
)

// MaxWeight is the largest weight a backend can have: IPVS's limit, which Keepalived clamps to.
const MaxWeight = math.MaxInt32

// ServiceSpec is one virtual service as the pool needs it. The daemon resolves Keepalived's
// inheritance (virtual_server defaults for alpha, inhibit_on_failure, weight) before it builds
// one, so every field here is the value that applies.
type ServiceSpec struct {
	// Name identifies the service in events and errors ("192.0.2.1 80", "fwmark 5").
	Name    string
	Servers []ServerSpec
	// Sorry is the sorry_server, nil if none.
	Sorry *SorrySpec
	// Quorum is the least total weight of live servers the service needs; 0 means Keepalived's
	// default, 1. Like Keepalived, the pool lowers it to the total configured weight when it
	// is higher (otherwise quorum could never be reached) and never below 1.
	Quorum int
	// Hysteresis widens quorum: gained at Quorum+Hysteresis, lost below Quorum-Hysteresis.
	// Like Keepalived, it is lowered to Quorum-1 when larger.
	Hysteresis int
	// QuorumUp and QuorumDown are the quorum_up and quorum_down scripts, named in events.
	QuorumUp, QuorumDown string
	// Omega runs notify_down and quorum_down scripts when the service is shut down.
	Omega bool
	// HASuspend suspends checks while the virtual address is not local; see SetAddressLocal.
	HASuspend bool
	// PanicThreshold (vigil) is a percentage, 0 (off) to 100: when fewer than this share of the
	// real servers pass their checks, the pool keeps all of them in (Envoy's panic mode).
	PanicThreshold int
	// InitNotifies is the global rs_init_notifies: run notify_up at start-up for servers that
	// start up.
	InitNotifies bool
	// Passive (vigil) is passive health: what ObserveFailure does with the data plane's
	// failures. Its zero value is off.
	Passive PassiveSpec
}

// PassiveSpec is passive health (vigil's passive_health block): the data plane reports the
// connections to a real server that failed, and the pool ejects a server after
// ConsecutiveFailures of them in a row, within MaxEjectionPercent and the panic threshold.
type PassiveSpec struct {
	// ConsecutiveFailures is how many failed connections in a row eject a server; 0 is off.
	ConsecutiveFailures int
	// MaxEjectionPercent caps the servers ejected at once to this share of the real servers,
	// rounded down but at least one; 0 ejects none (failures are reported, not acted on).
	MaxEjectionPercent int
}

// ServerSpec is one real_server.
type ServerSpec struct {
	// ID names the backend in Desired and events; the daemon uses "ip:port". Unique per service.
	ID string
	// Weight is the configured weight, 0..MaxWeight (the daemon applies Keepalived's default 1).
	Weight int
	// InhibitOnFailure keeps a failed server in the set with weight 0 instead of removing it.
	InhibitOnFailure bool
	// Checks are the server's checkers; Observation.Check indexes this slice. A server with no
	// checks is always up.
	Checks []CheckSpec
	// Rise (vigil) is how many successes in a row a failed check needs before it counts as up
	// again; 0 or 1 is Keepalived's behaviour (one success is enough).
	Rise int
	// SlowStart (vigil) ramps the weight of a re-admitted server from 1 to full over this long,
	// in ten steps; 0 is off.
	SlowStart time.Duration
	// NotifyUp and NotifyDown are the notify_up and notify_down scripts, named in events.
	NotifyUp, NotifyDown string
}

// CheckSpec is one checker of a real server.
type CheckSpec struct {
	// Name identifies the check across reloads and in events ("TCP_CHECK 192.0.2.10:80").
	// When empty, checks are matched by position on Reconfigure.
	Name string
	// Alpha makes the check start failed until its first success (Keepalived's alpha, already
	// inherited from real_server and virtual_server by the daemon).
	Alpha bool
}

// SorrySpec is a sorry_server.
type SorrySpec struct {
	// ID names the sorry backend; it must differ from every real server's ID.
	ID string
	// Weight is the sorry server's weight when active; 0 means Keepalived's fixed weight, 1.
	Weight int
	// Inhibit is sorry_server_inhibit: while not needed the sorry server stays in the set with
	// weight 0 instead of being removed.
	Inhibit bool
}

// Validate says what is wrong with spec, naming the service, the server and the value.
func (spec *ServiceSpec) Validate() error {
	ids := make(map[string]struct{}, len(spec.Servers))
	for i := range spec.Servers {
		rs := &spec.Servers[i]
		if rs.ID == "" {
			return fmt.Errorf("pool %q: real server #%d: empty ID", spec.Name, i+1)
		}
		if _, dup := ids[rs.ID]; dup {
			return fmt.Errorf("pool %q: real server %q: listed twice", spec.Name, rs.ID)
		}
		ids[rs.ID] = struct{}{}
		if rs.Weight < 0 || rs.Weight > MaxWeight {
			return fmt.Errorf("pool %q: real server %q: weight %d outside 0..%d", spec.Name, rs.ID, rs.Weight, MaxWeight)
		}
		if rs.Rise < 0 {
			return fmt.Errorf("pool %q: real server %q: rise %d is negative", spec.Name, rs.ID, rs.Rise)
		}
		if rs.SlowStart < 0 {
			return fmt.Errorf("pool %q: real server %q: slow start %v is negative", spec.Name, rs.ID, rs.SlowStart)
		}
		names := make(map[string]struct{}, len(rs.Checks))
		for j, c := range rs.Checks {
			if c.Name == "" {
				continue
			}
			if _, dup := names[c.Name]; dup {
				return fmt.Errorf("pool %q: real server %q: check #%d: name %q used twice", spec.Name, rs.ID, j, c.Name)
			}
			names[c.Name] = struct{}{}
		}
	}
	if s := spec.Sorry; s != nil {
		if s.ID == "" {
			return fmt.Errorf("pool %q: sorry server: empty ID", spec.Name)
		}
		if _, dup := ids[s.ID]; dup {
			return fmt.Errorf("pool %q: sorry server %q is also a real server, which vigil does not support", spec.Name, s.ID)
		}
		if s.Weight < 0 || s.Weight > MaxWeight {
			return fmt.Errorf("pool %q: sorry server %q: weight %d outside 0..%d", spec.Name, s.ID, s.Weight, MaxWeight)
		}
	}
	if spec.Quorum < 0 {
		return fmt.Errorf("pool %q: quorum %d is negative", spec.Name, spec.Quorum)
	}
	if spec.Hysteresis < 0 {
		return fmt.Errorf("pool %q: hysteresis %d is negative", spec.Name, spec.Hysteresis)
	}
	if spec.PanicThreshold < 0 || spec.PanicThreshold > 100 {
		return fmt.Errorf("pool %q: panic threshold %d%% outside 0..100", spec.Name, spec.PanicThreshold)
	}
	if p := spec.Passive; p.ConsecutiveFailures < 0 || p.MaxEjectionPercent < 0 || p.MaxEjectionPercent > 100 {
		return fmt.Errorf("pool %q: passive health: consecutive failures %d, max ejection %d%%: expected >= 0 and 0..100", spec.Name, p.ConsecutiveFailures, p.MaxEjectionPercent)
	}
	return nil
}

// quorumOf returns the quorum and hysteresis that apply, Keepalived's way, and notes saying
// what was adjusted.
func quorumOf(spec *ServiceSpec) (quorum, hysteresis int64, notes []string) {
	quorum = int64(spec.Quorum)
	if quorum == 0 {
		quorum = 1
	}
	var total int64
	for i := range spec.Servers {
		total += int64(spec.Servers[i].Weight)
	}
	if quorum > total && total > 0 {
		notes = append(notes, fmt.Sprintf("quorum %d exceeds total weight of real servers %d, reducing quorum to %d", quorum, total, total))
		quorum = total
	}
	hysteresis = int64(spec.Hysteresis)
	if hysteresis >= quorum {
		notes = append(notes, fmt.Sprintf("hysteresis %d >= quorum %d, setting hysteresis to %d", hysteresis, quorum, quorum-1))
		hysteresis = quorum - 1
	}
	return quorum, hysteresis, notes
}

func (s *SorrySpec) weight() int {
	if s.Weight == 0 {
		return 1
	}
	return s.Weight
}

func (rs *ServerSpec) rise() int {
	return max(rs.Rise, 1)
}

func sameServerSpec(a, b *ServerSpec) bool {
	if a.ID != b.ID || a.Weight != b.Weight || a.InhibitOnFailure != b.InhibitOnFailure ||
		a.Rise != b.Rise || a.SlowStart != b.SlowStart || a.NotifyUp != b.NotifyUp ||
		a.NotifyDown != b.NotifyDown || len(a.Checks) != len(b.Checks) {
		return false
	}
	for i := range a.Checks {
		if a.Checks[i] != b.Checks[i] {
			return false
		}
	}
	return true
}
