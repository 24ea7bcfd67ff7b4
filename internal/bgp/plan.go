package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// PrefixState is where one prefix stands.
type PrefixState string

// The states of a prefix.
const (
	Announced       PrefixState = "announced"
	Withdrawn       PrefixState = "withdrawn"
	PendingAnnounce PrefixState = "pending-announce" // wanted, held back by hold-down
	PendingWithdraw PrefixState = "pending-withdraw" // unwanted, held back by hold-down or the withdraw cap
)

// opKind is what the speaker must do to GoBGP.
type opKind int

const (
	opAnnounce opKind = iota // add (or replace) the path
	opWithdraw               // delete the path
)

func (o opKind) String() string {
	if o == opAnnounce {
		return "announce"
	}
	return "withdraw"
}

// action is one change the planner asks the speaker to make.
type action struct {
	op    opKind
	key   string
	route Route
	why   string
}

// prefixPlan is the planner's record of one key.
type prefixPlan struct {
	route     Route
	wanted    bool
	why       string    // the caller's reason for the latest wanted/unwanted
	announced bool      // as the speaker was last told
	changedAt time.Time // when announced last flipped; zero: never
	due       time.Time // when a held-back change is looked at again; zero: nothing pending
	held      string    // why the change is held back
	since     time.Time // when the current PrefixState began
}

func (p *prefixPlan) state() PrefixState {
	switch {
	case p.wanted == p.announced && p.announced:
		return Announced
	case p.wanted == p.announced:
		return Withdrawn
	case p.wanted:
		return PendingAnnounce
	default:
		return PendingWithdraw
	}
}

// planner decides, from what the pools want and the time, which prefixes are announced. It
// does no I/O and reads no clock: every method takes now, so tests drive it exactly.
type planner struct {
	holdDown    time.Duration
	maxWithdraw int
	window      time.Duration // the withdraw cap's window
	prefixes    map[string]*prefixPlan
	withdrawals []time.Time // recent capped-in withdrawals, oldest first
}

func newPlanner(holdDown time.Duration, maxWithdraw int) *planner {
	return &planner{holdDown: holdDown, maxWithdraw: maxWithdraw, window: max(holdDown, time.Second),
		prefixes: map[string]*prefixPlan{}}
}

// announce records that key's pool can serve r and returns what to do now.
func (pl *planner) announce(now time.Time, key string, r Route, why string) []action {
	p := pl.prefixes[key]
	if p == nil {
		p = &prefixPlan{since: now}
		pl.prefixes[key] = p
	}
	old := p.state()
	changedRoute := !p.route.equal(r)
	var acts []action
	if p.announced && changedRoute && p.route.Prefix != r.Prefix {
		// A new address under the same key: the old one goes at once, it is not a flap.
		acts = append(acts, action{op: opWithdraw, key: key, route: p.route, why: why})
		p.announced, p.changedAt = false, time.Time{}
	}
	if !p.wanted || changedRoute {
		p.why = why // a repeated Announce keeps the reason of the change
	}
	p.route, p.wanted = r, true
	if a, ok := pl.settle(now, p, key); ok {
		acts = append(acts, a)
	} else if p.announced && changedRoute {
		// Attributes changed on an announced route: replace it; not a flap either.
		acts = append(acts, action{op: opAnnounce, key: key, route: r, why: why})
	}
	pl.touch(now, p, old)
	return acts
}

// withdraw records that key's pool, serving prefix, can no longer serve and returns what to
// do now. An unknown key is recorded as withdrawn, so that it holds back its prefix (see
// Speaker); a zero prefix keeps the key's current one.
func (pl *planner) withdraw(now time.Time, key string, prefix netip.Prefix, why string) []action {
	p := pl.prefixes[key]
	if p == nil {
		pl.prefixes[key] = &prefixPlan{route: Route{Prefix: prefix}, why: why, since: now}
		return nil
	}
	old := p.state()
	var acts []action
	if prefix.IsValid() && prefix != p.route.Prefix {
		if p.announced {
			// A new address under the same key: the old one goes at once, it is not a flap.
			acts = append(acts, action{op: opWithdraw, key: key, route: p.route, why: why})
		}
		p.route, p.announced, p.changedAt = Route{Prefix: prefix}, false, time.Time{}
		p.why = why
	}
	if p.wanted {
		p.why = why // a repeated Withdraw keeps the reason of the change
	}
	p.wanted = false
	if a, ok := pl.settle(now, p, key); ok {
		acts = append(acts, a)
	}
	pl.touch(now, p, old)
	return acts
}

// forget drops key at once, past hold-down and cap: its virtual server is gone from the
// configuration. It returns the withdrawal to make if the key was announced.
func (pl *planner) forget(key, why string) []action {
	p := pl.prefixes[key]
	if p == nil {
		return nil
	}
	delete(pl.prefixes, key)
	if !p.announced {
		return nil
	}
	return []action{{op: opWithdraw, key: key, route: p.route, why: why}}
}

// tick looks again at every held-back change that is due by now, in order of due time and
// then key, so that the withdraw cap lets the same prefixes through on every run.
func (pl *planner) tick(now time.Time) []action {
	var keys []string
	for k, p := range pl.prefixes {
		if !p.due.IsZero() && !p.due.After(now) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := pl.prefixes[a].due.Compare(pl.prefixes[b].due); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var acts []action
	for _, k := range keys {
		p := pl.prefixes[k]
		old := p.state()
		if a, ok := pl.settle(now, p, k); ok {
			acts = append(acts, a)
		}
		pl.touch(now, p, old)
	}
	return acts
}

// withdrawAll withdraws every announced prefix at once, past hold-down and cap: the speaker
// is going away.
func (pl *planner) withdrawAll(now time.Time, why string) []action {
	keys := make([]string, 0, len(pl.prefixes))
	for k := range pl.prefixes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var acts []action
	for _, k := range keys {
		p := pl.prefixes[k]
		old := p.state()
		if p.announced {
			acts = append(acts, action{op: opWithdraw, key: k, route: p.route, why: why})
			p.announced, p.changedAt = false, now
		}
		p.wanted, p.why, p.due, p.held = false, why, time.Time{}, ""
		pl.touch(now, p, old)
	}
	return acts
}

// nextDue is the earliest time tick has something to look at.
func (pl *planner) nextDue() (time.Time, bool) {
	var next time.Time
	for _, p := range pl.prefixes {
		if !p.due.IsZero() && (next.IsZero() || p.due.Before(next)) {
			next = p.due
		}
	}
	return next, !next.IsZero()
}

// settle moves p toward what is wanted if hold-down and cap allow, and otherwise sets when to
// look again. It reports the action to take, if any.
func (pl *planner) settle(now time.Time, p *prefixPlan, key string) (action, bool) {
	if p.wanted == p.announced {
		p.due, p.held = time.Time{}, ""
		return action{}, false
	}
	if !p.changedAt.IsZero() {
		if end := p.changedAt.Add(pl.holdDown); now.Before(end) {
			p.due = end
			p.held = fmt.Sprintf("hold-down: last change at %s, %v ago; hold_down is %v",
				p.changedAt.Format(time.RFC3339Nano), now.Sub(p.changedAt), pl.holdDown)
			return action{}, false
		}
	}
	if !p.wanted && pl.maxWithdraw > 0 {
		cut := 0
		for cut < len(pl.withdrawals) && !pl.withdrawals[cut].After(now.Add(-pl.window)) {
			cut++
		}
		pl.withdrawals = pl.withdrawals[cut:]
		if len(pl.withdrawals) >= pl.maxWithdraw {
			p.due = pl.withdrawals[0].Add(pl.window)
			p.held = fmt.Sprintf("withdraw cap: %d withdrawals in the last %v, max_withdraw is %d",
				len(pl.withdrawals), pl.window, pl.maxWithdraw)
			return action{}, false
		}
		pl.withdrawals = append(pl.withdrawals, now)
	}
	p.announced, p.changedAt, p.due, p.held = p.wanted, now, time.Time{}, ""
	op := opWithdraw
	if p.wanted {
		op = opAnnounce
	}
	return action{op: op, key: key, route: p.route, why: p.why}, true
}

// touch restarts p's since when its state changed.
func (pl *planner) touch(now time.Time, p *prefixPlan, old PrefixState) {
	if p.state() != old {
		p.since = now
	}
}

// status lists every prefix the planner knows, by key.
func (pl *planner) status() []PrefixStatus {
	out := make([]PrefixStatus, 0, len(pl.prefixes))
	for k, p := range pl.prefixes {
		out = append(out, PrefixStatus{Key: k, Prefix: p.route.Prefix, State: p.state(), Reason: p.why,
			Held: p.held, Since: p.since, Due: p.due})
	}
	slices.SortFunc(out, func(a, b PrefixStatus) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// PrefixStatus is one prefix in a Snapshot.
type PrefixStatus struct {
	Key    string       // the daemon's key, the virtual server's name
	Prefix netip.Prefix // the announced (or last announced) prefix
	State  PrefixState
	Reason string    // the daemon's reason for the latest Announce or Withdraw
	Held   string    // why a pending change waits; empty otherwise
	Since  time.Time // when State began
	Due    time.Time // when a pending change is looked at again; zero otherwise
	Error  string    // the last error GoBGP returned for this prefix, if any
	// InRIB says whether the prefix is in GoBGP now: Run is running and every key naming the
	// prefix is Announced.
	InRIB bool
}
