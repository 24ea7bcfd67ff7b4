package lb

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/discovery"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
)

// Members found in DNS (dynamic_real_servers). Each such virtual server has a discoverer: a
// goroutine that asks its resolver at the block's refresh, or sooner when the answer's TTL is
// shorter (discovery.Interval), and a record of the members it found. A member that appears is
// added to the pool as a real server made from the block's template; one that disappears is
// drained (held in drain by "dns": no new connections, established ones finish) and removed
// once its connections are over, or drain_timeout after it left DNS; one that comes back
// before that is made ready again. When a lookup fails the last answer stays, and the failure
// is logged, published and shown in the status until DNS answers again; so does an answer
// naming nobody while members are there, for the block's empty_hold (holdEmptyLocked).

// drainPoll is how often a member gone from DNS has its connections counted while it drains.
const drainPoll = time.Second

// lookupTimeout bounds one lookup (several queries for an SRV name without additional records).
const lookupTimeout = 5 * time.Second

// dynamicPlan is a dynamic_real_servers block as the half runs it.
type dynamicPlan struct {
	block    *lvs.DynamicRealServers
	query    discovery.Query
	resolver discovery.Resolver
}

// resolvConf is where a block without a resolver finds one.
const resolvConf = "/etc/resolv.conf"

// planDynamic makes vs's dynamic_real_servers block into the query and resolver it runs.
func planDynamic(vs *lvs.VirtualServer) (*dynamicPlan, error) {
	b := vs.Dynamic
	p := &dynamicPlan{block: b, query: discovery.Query{SRV: b.SRV, Name: b.Name, Port: b.Port, IPv6: vs.Family == "inet6"},
		resolver: discovery.Resolver{Server: b.Resolver}}
	if !b.Resolver.IsValid() {
		server, err := discovery.SystemResolver(resolvConf)
		if err != nil {
			return p, syntax.ErrorAt(b.Pos, "dynamic_real_servers: %v; set resolver ADDR [PORT]", err)
		}
		p.resolver.Server = server
	}
	return p, nil
}

// standIn is the address of a member that is not there, for building a block's checkers
// before DNS has answered: a documentation address (RFC 5737, RFC 3849) of vs's family, with
// the block's port, or vs's.
func standIn(vs *lvs.VirtualServer) netip.AddrPort {
	addr := netip.MustParseAddr("192.0.2.1")
	if vs.Family == "inet6" {
		addr = netip.MustParseAddr("2001:db8::1")
	}
	return netip.AddrPortFrom(addr, cmp.Or(vs.Dynamic.Port, vs.Port, 1))
}

// discoverer is one virtual server's members found in DNS and the lookups that find them; its
// fields are the half's, under d.mu.
type discoverer struct {
	plan    *dynamicPlan
	members map[string]*member // by pool ID
	// The last answer and its TTL, when the next lookup is due, and the failure of the
	// lookups since errSince (empty once DNS answers).
	answered time.Time
	ttl      time.Duration
	next     time.Time
	err      string
	errSince time.Time
	// capped is how many members the last answer had beyond max, lower how many SRV targets
	// of a higher priority value it left out.
	capped, lower int
	// failures counts the lookups failed in a row, for the retry's backoff; lookups and
	// lookupFailures every lookup and every failed one, for the metrics.
	failures                int
	lookups, lookupFailures uint64
	// emptySince is when DNS began to name nobody while members were there; zero otherwise.
	emptySince time.Time
	// cancel stops the goroutine asking.
	cancel context.CancelFunc
}

// member is one address found in DNS.
type member struct {
	addr  netip.AddrPort
	found time.Time
	// leaving is when the member left DNS; zero while it is there.
	leaving time.Time
}

// newDiscoverer starts the record of p's members, carrying over old's (a reload) but for those
// the configuration now lists as real servers of its own.
func newDiscoverer(p *dynamicPlan, old *discoverer, static map[string]netip.AddrPort) *discoverer {
	disc := &discoverer{plan: p, members: map[string]*member{}}
	if old != nil {
		disc.answered, disc.ttl, disc.err, disc.errSince = old.answered, old.ttl, old.err, old.errSince
		disc.capped, disc.lower, disc.failures, disc.emptySince = old.capped, old.lower, old.failures, old.emptySince
		disc.lookups, disc.lookupFailures = old.lookups, old.lookupFailures
		for id, m := range old.members {
			if _, ok := static[id]; !ok {
				disc.members[id] = m
			}
		}
	}
	return disc
}

// presentCount counts the members DNS named last, those draining out left aside.
func (disc *discoverer) presentCount() int { return len(disc.members) - disc.leavingCount() }

func (disc *discoverer) leavingCount() int {
	n := 0
	for _, m := range disc.members {
		if !m.leaving.IsZero() {
			n++
		}
	}
	return n
}

// membersLocked are the addresses of virtual server vs's members found in DNS, sorted: what a
// plan keeps over a reload.
func (d *Half) membersLocked(vs string) []netip.AddrPort {
	svc := d.services[vs]
	if svc == nil || svc.disc == nil {
		return nil
	}
	var out []netip.AddrPort
	for _, m := range svc.disc.members {
		out = append(out, m.addr)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

// setDiscovererLocked gives svc the discoverer its plan p asks for (none without a block),
// stopping the one it had; the members stay. It starts asking when the half runs.
func (d *Half) setDiscovererLocked(svc *service, p *planned) {
	old := svc.disc
	if old != nil && old.cancel != nil {
		old.cancel() // it sees it is no longer svc's and drops what it was doing
	}
	svc.disc = nil
	if p.dynamic == nil {
		return
	}
	static := map[string]netip.AddrPort{}
	for _, rs := range p.vs.RealServers {
		ap := netip.AddrPortFrom(rs.Address, rs.Port)
		static[ap.String()] = ap
	}
	svc.disc = newDiscoverer(p.dynamic, old, static)
	d.startDiscoveryLocked(svc)
}

// startDiscoveryLocked starts svc's discoverer asking, once the half runs.
func (d *Half) startDiscoveryLocked(svc *service) {
	disc := svc.disc
	if disc == nil || disc.cancel != nil || d.discCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(d.discCtx)
	disc.cancel = cancel
	d.discWG.Add(1)
	go func() {
		defer d.discWG.Done()
		d.discover(ctx, svc.name, disc)
	}()
}

// discover asks DNS for vs's members until ctx ends, and counts the connections of the members
// that left while they drain.
func (d *Half) discover(ctx context.Context, vs string, disc *discoverer) {
	timer := d.clk.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		lctx, cancel := d.clk.WithTimeout(ctx, lookupTimeout)
		ans, err := disc.plan.resolver.Lookup(lctx, disc.plan.query)
		cancel()
		if ctx.Err() != nil {
			return
		}
		wait, leaving, ok := d.answer(vs, disc, ans, err)
		for ok && wait > 0 {
			step := wait
			if leaving {
				step = min(step, drainPoll)
			}
			timer.Reset(step)
			select {
			case <-ctx.Done():
				return
			case <-timer.C():
			}
			wait -= step
			if leaving {
				leaving, ok = d.sweep(vs, disc)
			}
		}
		if !ok {
			return
		}
	}
}

// answer applies one lookup's outcome to vs's members and says how long to wait for the next,
// whether members are draining, and false when disc is no longer vs's.
func (d *Half) answer(vs string, disc *discoverer, ans discovery.Answer, err error) (time.Duration, bool, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	svc := d.services[vs]
	if svc == nil || svc.disc != disc {
		return 0, false, false
	}
	now := d.clk.Now()
	b := disc.plan.block
	q := disc.plan.query.String()
	disc.lookups++
	if err != nil {
		disc.lookupFailures++
		if disc.err == "" {
			disc.errSince = now
			msg := fmt.Sprintf("DNS lookup failed: %v; keeping the last answer (%d members, %s)", err, len(disc.members), answeredWhen(disc.answered))
			d.log.Warn("dynamic_real_servers: "+msg, "vs", vs, "query", q, "resolver", disc.plan.resolver.Server.String())
			d.noteLocked(vs, NoteDiscovery, msg, true)
		}
		disc.err = err.Error()
		disc.failures++
		wait := discovery.Retry(b.Refresh.D(), disc.failures)
		disc.next = now.Add(wait)
		return wait, disc.leavingCount() > 0, true
	}
	if wait, held := d.holdEmptyLocked(vs, disc, ans, now); held {
		return wait, disc.leavingCount() > 0, true
	}
	disc.failures = 0
	if disc.err != "" {
		msg := fmt.Sprintf("DNS answers again after %v: %d members", now.Sub(disc.errSince).Round(time.Second), len(ans.Members))
		d.log.Info("dynamic_real_servers: "+msg, "vs", vs, "query", q)
		d.noteLocked(vs, NoteDiscovery, msg, false)
		disc.err, disc.errSince = "", time.Time{}
	}
	disc.answered, disc.ttl = now, ans.TTL
	if ans.Lower != disc.lower {
		disc.lower = ans.Lower
		if ans.Lower > 0 {
			d.log.Info(fmt.Sprintf("dynamic_real_servers: %s: %d SRV targets of a higher priority value left out: the members are the targets of the lowest", q, ans.Lower), "vs", vs)
		}
	}
	found := ans.Members
	if capped := max(len(found)-int(b.Max), 0); capped != disc.capped {
		disc.capped = capped
		if capped > 0 {
			msg := fmt.Sprintf("%s answered %d members, max is %d: the first %d by address are taken, %s left out", q, len(found), b.Max, b.Max, leftOut(found[b.Max:]))
			d.log.Warn("dynamic_real_servers: "+msg, "vs", vs)
			d.noteLocked(vs, NoteDiscovery, msg, true)
		}
	}
	d.applyMembersLocked(svc, disc, found[:min(len(found), int(b.Max))], now)
	wait := discovery.Interval(b.Refresh.D(), ans.TTL)
	disc.next = now.Add(wait)
	return wait, disc.leavingCount() > 0, true
}

// applyMembersLocked makes svc's members those found: the new ones added, the ones back in DNS
// made ready, the ones gone held in drain (sweep removes them).
func (d *Half) applyMembersLocked(svc *service, disc *discoverer, found []discovery.Member, now time.Time) {
	vs, q := svc.name, disc.plan.query.String()
	want := make(map[string]netip.AddrPort, len(found))
	for _, m := range found {
		id := m.Addr.String()
		if _, static := svc.addrs[id]; static && disc.members[id] == nil {
			continue // a real server of the configuration's own
		}
		want[id] = m.Addr
	}
	var evs []pool.Event
	for _, id := range slices.Sorted(maps.Keys(want)) {
		m := disc.members[id]
		switch {
		case m == nil:
			evs = append(evs, d.addMemberLocked(svc, want[id], fmt.Sprintf("found in DNS (%s)", q), now)...)
		case !m.leaving.IsZero():
			m.leaving = time.Time{}
			more, err := svc.pool.Hold(id, pool.HolderDNS, pool.AdminReady, fmt.Sprintf("back in DNS (%s)", q), now)
			d.logPoolErr(vs, id, err)
			evs = append(evs, more...)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(disc.members)) {
		m := disc.members[id]
		if _, ok := want[id]; ok || !m.leaving.IsZero() {
			continue
		}
		m.leaving = now
		more, err := svc.pool.Hold(id, pool.HolderDNS, pool.AdminDrain, fmt.Sprintf("gone from DNS (%s): draining before removal", q), now)
		d.logPoolErr(vs, id, err)
		evs = append(evs, more...)
	}
	d.handleEventsLocked(svc, evs, true)
}

// holdEmptyLocked keeps the members of the last answer while DNS names nobody, for the block's
// empty_hold, and says how long to wait for the next lookup; false when the answer is to be
// applied: it names somebody, no member is there to keep, or the hold has passed.
func (d *Half) holdEmptyLocked(vs string, disc *discoverer, ans discovery.Answer, now time.Time) (time.Duration, bool) {
	b := disc.plan.block
	q := disc.plan.query.String()
	if len(ans.Members) > 0 || disc.presentCount() == 0 || b.EmptyHold.D() <= 0 {
		disc.emptySince = time.Time{}
		return 0, false
	}
	if disc.emptySince.IsZero() {
		disc.emptySince = now
		msg := fmt.Sprintf("DNS names nobody (NXDOMAIN or no records); keeping the last answer (%d members) for empty_hold %v", disc.presentCount(), b.EmptyHold.D())
		d.log.Warn("dynamic_real_servers: "+msg, "vs", vs, "query", q, "resolver", disc.plan.resolver.Server.String())
		d.noteLocked(vs, NoteDiscovery, msg, true)
		if disc.err == "" {
			disc.errSince = now
		}
	}
	left := b.EmptyHold.D() - now.Sub(disc.emptySince)
	if left > 0 {
		disc.err = fmt.Sprintf("%s names nobody since %s; the last answer stays until empty_hold %v has passed", q, disc.emptySince.UTC().Format(time.RFC3339), b.EmptyHold.D())
		// Asked again as after a failure (1 s, then 2, 4... up to refresh): the records
		// that come back within the hold are seen soon.
		disc.failures++
		wait := max(min(discovery.Retry(b.Refresh.D(), disc.failures), left), discovery.MinRefresh)
		disc.next = now.Add(wait)
		return wait, true
	}
	msg := fmt.Sprintf("DNS has named nobody for %v (empty_hold): the %d members drain and leave", now.Sub(disc.emptySince).Round(time.Second), disc.presentCount())
	d.log.Warn("dynamic_real_servers: "+msg, "vs", vs, "query", q)
	d.noteLocked(vs, NoteDiscovery, msg, true)
	disc.err, disc.errSince, disc.emptySince = "", time.Time{}, time.Time{}
	return 0, false
}

// leftOut names the members an answer had beyond max: the first few, and how many more.
func leftOut(ms []discovery.Member) string {
	const named = 8
	var s []string
	for _, m := range ms[:min(len(ms), named)] {
		s = append(s, m.Addr.String())
	}
	out := strings.Join(s, " ")
	if len(ms) > named {
		out += fmt.Sprintf(" and %d more", len(ms)-named)
	}
	return out
}

func answeredWhen(t time.Time) string {
	if t.IsZero() {
		return "none yet"
	}
	return "from " + t.UTC().Format(time.RFC3339)
}

func (d *Half) logPoolErr(vs, rs string, err error) {
	if err != nil {
		d.log.Error("pool", "vs", vs, "rs", rs, "err", err)
	}
}

// addMemberLocked adds the member at addr to svc: a real server made from the block's
// template, in the pool and with its checks scheduled.
func (d *Half) addMemberLocked(svc *service, addr netip.AddrPort, why string, now time.Time) []pool.Event {
	f := &checkerFactory{cfg: d.cfg, runner: d.runner, pingers: d.pingers}
	spec, jobs, errs := d.planServer(f, svc.name, svc.vs.Dynamic.Member(addr), svc.addrs, svc.thresholds)
	id := spec.ID
	var evs []pool.Event
	var err error
	if len(errs) > 0 {
		err = joinProblems(errs)
	} else {
		evs, err = svc.pool.AddServer(spec, why, now)
	}
	if err != nil {
		d.log.Error("dynamic_real_servers: member not added", "vs", svc.name, "rs", id, "err", err)
		delete(svc.addrs, id)
		delete(svc.thresholds, id)
		return nil
	}
	svc.spec.Servers = append(svc.spec.Servers, spec)
	for _, j := range jobs {
		if err := d.scheduleJobLocked(svc, j); err != nil {
			d.log.Error("scheduler add", "job", j.job.ID, "err", err)
			continue
		}
		svc.jobIDs = append(svc.jobIDs, j.job.ID)
	}
	d.refreshRefsLocked(svc)
	svc.disc.members[id] = &member{addr: addr, found: now}
	return evs
}

// removeMemberLocked takes member id out of svc: its checks, its pool entry and its address.
func (d *Half) removeMemberLocked(svc *service, id, why string, now time.Time) []pool.Event {
	evs, err := svc.pool.RemoveServer(id, why, now)
	d.logPoolErr(svc.name, id, err)
	var gone []string
	svc.jobIDs = slices.DeleteFunc(svc.jobIDs, func(j string) bool {
		if ref := d.jobs[j]; ref != nil && ref.server == id {
			gone = append(gone, j)
			return true
		}
		return false
	})
	d.removeJobsLocked(gone)
	svc.spec.Servers = slices.DeleteFunc(svc.spec.Servers, func(s pool.ServerSpec) bool { return s.ID == id })
	delete(svc.addrs, id)
	delete(svc.thresholds, id)
	delete(svc.disc.members, id)
	d.refreshRefsLocked(svc)
	return evs
}

// refreshRefsLocked gives svc's jobs their servers' refs again after the pool's servers
// changed, so that reports find them without a lookup by ID.
func (d *Half) refreshRefsLocked(svc *service) {
	for _, j := range svc.jobIDs {
		if ref := d.jobs[j]; ref != nil {
			ref.poolRef = svc.pool.Ref(ref.server)
		}
	}
}

// sweep removes vs's members gone from DNS whose connections are over, or that have drained
// for drain_timeout; it says whether any is still draining, and false when disc is no longer
// vs's.
func (d *Half) sweep(vs string, disc *discoverer) (leaving, ok bool) {
	active := map[netip.AddrPort]int64{}
	for _, ss := range d.dp.Stats() {
		if ownerOf(ss.Name) != vs {
			continue
		}
		for _, b := range ss.Backends {
			if !b.Sorry {
				active[b.Addr] += b.Active
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	svc := d.services[vs]
	if svc == nil || svc.disc != disc {
		return false, false
	}
	now := d.clk.Now()
	timeout := disc.plan.block.DrainTimeout.D()
	var evs []pool.Event
	for _, id := range slices.Sorted(maps.Keys(disc.members)) {
		m := disc.members[id]
		if m.leaving.IsZero() {
			continue
		}
		n := active[m.addr]
		switch {
		case n == 0:
			evs = append(evs, d.removeMemberLocked(svc, id, fmt.Sprintf("gone from DNS %v ago and drained: no connection left", now.Sub(m.leaving).Round(time.Millisecond)), now)...)
		case now.Sub(m.leaving) >= timeout:
			evs = append(evs, d.removeMemberLocked(svc, id, fmt.Sprintf("gone from DNS %v ago: drain_timeout %v passed, connections still open: %d", now.Sub(m.leaving).Round(time.Second), timeout, n), now)...)
		}
	}
	d.handleEventsLocked(svc, evs, true)
	return disc.leavingCount() > 0, true
}

// discoveryStatus is svc's discovery for the status; nil without a block.
func discoveryStatus(svc *service) *status.Discovery {
	disc := svc.disc
	if disc == nil {
		return nil
	}
	st := &status.Discovery{Query: disc.plan.query.String(), Resolver: disc.plan.resolver.Server.String(),
		Members: len(disc.members), Leaving: disc.leavingCount(), LastAnswer: disc.answered, TTL: disc.ttl,
		NextLookup: disc.next, Error: disc.err, ErrorSince: disc.errSince, Capped: disc.capped,
		Lookups: disc.lookups, LookupFailures: disc.lookupFailures}
	st.Stale = disc.err != "" && !disc.answered.IsZero()
	return st
}

// discoveries are the states of the dynamic_real_servers blocks, by virtual server, for the
// metrics.
func (d *Half) discoveries() map[string]status.Discovery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]status.Discovery{}
	for name, svc := range d.services {
		if st := discoveryStatus(svc); st != nil {
			out[name] = *st
		}
	}
	return out
}

// logDiscovery logs a discoverer's first start, for the record of where members come from.
func (d *Half) logDiscovery(svc *service) {
	if disc := svc.disc; disc != nil {
		d.log.Info("dynamic_real_servers", slog.String("vs", svc.name), slog.String("query", disc.plan.query.String()),
			slog.String("resolver", disc.plan.resolver.Server.String()), slog.Int("max", int(disc.plan.block.Max)))
	}
}
