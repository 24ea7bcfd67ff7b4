package pool

import (
	"fmt"
	"time"
)

// Failure is one connection to a real server that failed in the data plane (passive health):
// a connect refused, timed out or unreachable, or a connection reset before the server's first
// byte.
type Failure struct {
	Server string
	// Ref, when set (Service.Ref of Server), finds the server without a lookup by its ID.
	Ref ServerRef
	// Consecutive counts the server's failed connections in a row, this one included, as the
	// data plane counted them: 1 is the first failure after a success.
	Consecutive int
	// Kind is a short word for the failure ("timeout", "refused", "unreachable", "reset"),
	// carried into ServerEjected's Cause.
	Kind string
	// Reason says what the data plane saw ("dial tcp 192.0.2.21:80: i/o timeout").
	Reason string
}

// Limits that refuse an ejection, as EjectionRefused's Cause names them.
const (
	LimitMaxEjection = "max_ejection_percent"
	LimitPanic       = "panic_threshold"
	LimitLastServer  = "last_server"
)

// ObserveFailure applies one failure the data plane saw, at time now, and returns what it
// changed. With passive health on (Spec.Passive), a real server whose checks pass is ejected
// once Consecutive reaches ConsecutiveFailures: it stays in the set at weight 0, so it gets no
// new connections and its established ones stay, until its next check verdict. A verdict that
// passes readmits it (ServerReadmitted) unless its probe started before the ejection; one that
// fails takes it down as any failed check does, and it comes back as any down server does.
//
// An ejection is refused (EjectionRefused, once per run of failures) when it would eject more
// than MaxEjectionPercent of the ready real servers (rounded down, at least one), would leave
// fewer usable servers (ready, up and not ejected) than PanicThreshold asks for, or would
// leave none. Only a ready server is ejected, and an operator's drain or maint ends an
// ejection. The
// refusal is not final: a later failure of the same run is weighed again against the limits
// as they stand then.
//
// Ejection follows the checks' verdicts only through the set: the server stays up for
// quorum, notify scripts, track_virtual_server and BGP, which follow the checks. Panic counts
// an ejected server as unusable (as Envoy's panic threshold does), so a check that fails while
// a server is ejected can bring panic, which puts every real server back in.
func (s *Service) ObserveFailure(f Failure, now time.Time) ([]Event, error) {
	r, err := s.serverOf(f.Server, f.Ref, "failure")
	if err != nil {
		return nil, err
	}
	n := s.spec.Passive.ConsecutiveFailures
	if n <= 0 || s.suspended {
		return nil, nil
	}
	if f.Consecutive < n {
		r.ejectRefused = false // a new run of failures: a refusal is said again
		return nil, nil
	}
	if !r.alive || r.ejected || r.adminState() != AdminReady {
		// Out by its checks already, ejected by an earlier failure of the run, or drained or
		// in maintenance by an operator: passive health has no say.
		return nil, nil
	}
	limit, why := s.ejectionLimit()
	if limit != "" {
		if r.ejectRefused {
			return nil, nil
		}
		r.ejectRefused = true
		s.begin(now)
		ev := s.emit(EjectionRefused, r, -1, fmt.Sprintf("%d connections in a row failed (last: %s), not ejected: %s", f.Consecutive, f.Reason, why), "")
		s.events[ev].Cause = limit
		return s.commit(), nil
	}
	s.begin(now)
	r.ejected, r.ejectedAt, r.ejectedWhy = true, now, f.Reason
	s.ejected++
	ev := s.emit(ServerEjected, r, -1, fmt.Sprintf("%d connections in a row failed (last: %s): ejected until its next check verdict", f.Consecutive, f.Reason), "")
	s.events[ev].Cause = f.Kind
	s.touch(r)
	return s.commit(), nil
}

// ejectionLimit says which limit, if any, refuses one more ejection now, and why in words. Both
// limits count among the ready servers, as panic does (admin.go): the ones an operator
// drained or took out carry no traffic to protect.
func (s *Service) ejectionLimit() (limit, why string) {
	n, which := s.ready, "real servers"
	if n != len(s.order) {
		which = "ready real servers"
	}
	pct, p := s.spec.Passive.MaxEjectionPercent, s.spec.PanicThreshold
	capacity := pct * n / 100
	if pct > 0 {
		capacity = max(capacity, 1)
	}
	usable := s.readyUp - s.ejected - 1
	switch {
	case s.ejected+1 > capacity:
		return LimitMaxEjection, fmt.Sprintf("%d of %d %s would be ejected, max_ejection_percent %d%% allows %d", s.ejected+1, n, which, pct, capacity)
	case usable <= 0:
		return LimitLastServer, "it is the last real server in service"
	case p > 0 && usable*100 < p*n:
		return LimitPanic, fmt.Sprintf("%d of %d %s would be left in service, fewer than panic_threshold %d%%", usable, n, which, p)
	}
	return "", ""
}

// endEjection ends r's ejection at a check verdict (Observe); passed says whether the verdict
// left the server up, and started is when its probe started (zero: unknown). A pass from a
// probe that started before the ejection says nothing of what the data plane saw since.
func (s *Service) endEjection(r *server, check int, passed bool, started time.Time, reason string) {
	if !r.ejected {
		return
	}
	if passed && !started.IsZero() && started.Before(r.ejectedAt) {
		return
	}
	r.ejected = false
	s.ejected--
	if passed {
		s.emit(ServerReadmitted, r, check, fmt.Sprintf("%s passed: %s; ejection over", checkLabel(r, check), reason), "")
	}
}

// forgetEjection ends r's ejection without a word: something else (an operator's drain or
// maint) decides where it stands now, and its own event says so.
func (s *Service) forgetEjection(r *server) {
	if r.ejected {
		r.ejected = false
		s.ejected--
	}
}

// readmitAll ends every ejection, saying why (passive health turned off by a reload).
func (s *Service) readmitAll(why string) {
	for _, r := range s.order {
		if r.ejected {
			r.ejected = false
			s.emit(ServerReadmitted, r, -1, why, "")
		}
	}
	s.ejected = 0
}
