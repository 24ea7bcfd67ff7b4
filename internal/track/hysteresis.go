package track

// Hysteresis turns single check results into a state that changes only after Rise successes
// or Fall failures in a row, as Keepalived's vrrp_script rise and fall do. Before the first
// result the state is unknown; the first result decides it at once (InitFail starts it down
// instead, so that Rise successes are needed).
type Hysteresis struct {
	Rise, Fall int
	known, up  bool
	run        int // consecutive results against the current state
}

// NewHysteresis returns a Hysteresis with rise and fall (values below 1 mean 1); initFail
// starts it down.
func NewHysteresis(rise, fall int, initFail bool) *Hysteresis {
	h := &Hysteresis{Rise: max(rise, 1), Fall: max(fall, 1)}
	if initFail {
		h.known = true
	}
	return h
}

// Observe records one result and returns the state and whether it changed (a first result
// always counts as a change).
func (h *Hysteresis) Observe(ok bool) (up, changed bool) {
	if !h.known {
		h.known, h.up = true, ok
		return h.up, true
	}
	if ok == h.up {
		h.run = 0
		return h.up, false
	}
	h.run++
	need := h.Fall
	if ok {
		need = h.Rise
	}
	if h.run < need {
		return h.up, false
	}
	h.up, h.run = ok, 0
	return h.up, true
}

// State returns the current state and whether it is known yet.
func (h *Hysteresis) State() (up, known bool) { return h.up, h.known }
