package bgp

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
)

// Announcement is what a virtual server's announce block asks for.
type Announcement struct {
	Route Route
	// OnlyWhileMaster names a VRRP instance: the route is announced only while that instance
	// is MASTER (announce { only_while_master NAME }). Empty for none.
	OnlyWhileMaster string
}

// Policy decides whether each virtual server with an announce block has its address announced:
// while it can serve (its pool has quorum and it is served) and, with only_while_master, while
// its VRRP instance is MASTER. It is a pure function of what it is told: it keeps no clock and
// calls nothing; each method returns the Decisions to carry out, in order (Apply does that on a
// Router, the Speaker). The zero value is ready to use.
type Policy struct {
	vs   map[string]*policyVS
	vrrp map[string]string // instance → its last state
}

type policyVS struct {
	a   Announcement
	up  bool
	why string
}

// Decision is one thing to tell the speaker about the virtual server Key.
type Decision struct {
	Key string
	// Announce the route, or withdraw it; Remove forgets the virtual server altogether (its
	// announce block, or the virtual server itself, went away).
	Announce, Remove bool
	Route            Route
	Why              string
}

// SetPool records whether the virtual server key can serve (up) and why, with its announce
// block a (nil: it has none, and a route it had is removed).
func (p *Policy) SetPool(key string, a *Announcement, up bool, why string) []Decision {
	if a == nil {
		return p.Forget(key, "announce removed by reload")
	}
	if p.vs == nil {
		p.vs = map[string]*policyVS{}
	}
	v := &policyVS{a: *a, up: up, why: why}
	p.vs[key] = v
	return []Decision{p.decide(key, v)}
}

// Forget removes the virtual server key (removed by a reload), and its route with it.
func (p *Policy) Forget(key, why string) []Decision {
	if _, ok := p.vs[key]; !ok {
		return nil
	}
	delete(p.vs, key)
	return []Decision{{Key: key, Remove: true, Why: why}}
}

// SetVRRP records a VRRP instance's state and returns the decisions for the virtual servers
// announced only while it is MASTER, in key order.
func (p *Policy) SetVRRP(instance, state string) []Decision {
	if p.vrrp == nil {
		p.vrrp = map[string]string{}
	}
	p.vrrp[instance] = state
	var out []Decision
	for _, key := range slices.Sorted(maps.Keys(p.vs)) {
		if v := p.vs[key]; v.a.OnlyWhileMaster == instance {
			d := p.decide(key, v)
			if d.Announce {
				d.Why = fmt.Sprintf("vrrp instance %s became %s", instance, state)
			}
			out = append(out, d)
		}
	}
	return out
}

func (p *Policy) decide(key string, v *policyVS) Decision {
	d := Decision{Key: key, Route: v.a.Route, Why: v.why}
	if m := v.a.OnlyWhileMaster; m != "" && p.vrrp[m] != "MASTER" {
		d.Why = fmt.Sprintf("vrrp instance %s is %s (only_while_master)", m, cmp.Or(p.vrrp[m], "not yet reported"))
		return d
	}
	d.Announce = v.up
	return d
}

// Router is what carries decisions out: a Speaker.
type Router interface {
	Announce(key string, r Route, why string) error
	Withdraw(key string, prefix netip.Prefix, why string) error
	Remove(key, why string)
}

// Apply carries decisions out on r, in order, and returns the first error (a route the speaker
// refused).
func Apply(r Router, ds []Decision) error {
	var first error
	for _, d := range ds {
		var err error
		switch {
		case d.Remove:
			r.Remove(d.Key, d.Why)
		case d.Announce:
			err = r.Announce(d.Key, d.Route, d.Why)
		default:
			err = r.Withdraw(d.Key, d.Route.Prefix, d.Why)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("bgp: %s: %w", d.Key, err)
		}
	}
	return first
}
