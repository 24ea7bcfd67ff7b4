package nftables

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// Options configure a Dataplane. The zero value works.
type Options struct {
	// Table is the name of the inet table vigil owns ("vigil" when empty). Whatever a table of
	// that name holds when New runs is replaced.
	Table string
	// KeepOnClose leaves the table (and so the forwarding) in place when Close returns, for a
	// restart that should not interrupt new connections; the next New replaces it.
	KeepOnClose bool
	// NoMasquerade leaves the client's source address on connections to backends. Replies
	// then return through the balancer only if the backends route them through it (Keepalived's
	// lb_kind NAT assumption). By default connections are masqueraded to the address of the
	// interface towards the backend, which works with any routing.
	NoMasquerade bool
	// SNAT, when valid, is the source address of connections to backends of its family, in
	// place of masquerading: an address every node of the cluster shares (a VRRP address on
	// the backend side, the backends' gateway), so that a connection that moves to another
	// node with its conntrack entry (conntrack_sync) or is picked up there mid-stream keeps
	// the address the backend knows it by. NoMasquerade overrides it.
	SNAT netip.Addr
	// FlowHash makes every scheduler that picks slots in turn (rr, wrr, lc, wlc, ...) pick by
	// a hash of the client's address and port over a Maglev table of the backends, so every
	// node with the same backends sends a connection to the same backend (a flow that an ECMP
	// router moves to another node, or that a new master picks up without its state, keeps
	// its backend). fo keeps its single backend; sh and mh keep hashing the client's address
	// (and port with HashPort).
	FlowHash bool
	// NetNS is the path of a network namespace to program (as under /var/run/netns); empty is
	// the caller's.
	NetNS string
}

// Dataplane balances services with DNAT rules in one nftables table. Methods are safe for
// concurrent use.
type Dataplane struct {
	log  *slog.Logger
	opts Options
	nsFD *os.File
	mu   sync.Mutex
	conn *nft.Conn
	// connOpts open conn, and open it again after a transaction failed (see commit).
	connOpts []nft.ConnOption
	ct       *netlink.Handle // conntrack: Stats' Active, ShutdownSessions
	table    *nft.Table
	// Maps and sets shared by every service: the dispatch maps (protocol . address . port ->
	// the service's chain) and the sets of every service's backends (protocol . address .
	// port, a counter per element), which postrouting counts and masquerades; and the fwmark
	// dispatch maps (protocol . mark -> the chain of a fwmark service).
	svc4, svc6, back4, back6 *nft.Set
	marks4, marks6           *nft.Set
	// listen4/6 hold every address service's protocol . address . port (no verdict), for the
	// filter chain that drops invalid packets to them: a chain of type filter may not refer
	// to the dispatch maps, whose verdicts lead to NAT rules.
	listen4, listen6 *nft.Set
	// backRefs counts the services that use each backend (by its key in back4 or back6).
	backRefs map[string]int
	services map[string]*service
	nextID   int
	closed   bool
	// kernel reads the ruleset generation and the table's flags. inPlace is the generation at
	// which vigil's table was last known to be exactly what the services want (right after
	// vigil's own commit, or when Reconcile read it back), valid while inPlaceKnown: as long as
	// the kernel's generation still equals it, nobody has changed the ruleset since, and
	// Reconcile reads nothing.
	kernel       *ruleset
	inPlace      uint32
	inPlaceKnown bool
	// unrepaired holds, after a repair that failed, what each service misses (the key ""
	// for the table as a whole); Stats reports it as NotServing. The next Apply or
	// Reconcile reinstalls the whole table.
	unrepaired map[string]string
	// readBacks counts Reconcile's reads of the table (for tests).
	readBacks int
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// Available reports why the nftables data plane cannot run here (nil when it can): no
// nf_tables in the kernel, or no permission (root or CAP_NET_ADMIN) to change the ruleset.
func Available() error {
	conn, err := nft.New()
	if err != nil {
		return fmt.Errorf("nftables: open netlink: %w", err)
	}
	return probe(conn)
}

func probe(conn *nft.Conn) error {
	if _, err := conn.ListTablesOfFamily(nft.TableFamilyINet); err != nil {
		switch {
		case errors.Is(err, os.ErrPermission):
			return fmt.Errorf("nftables: list tables: %w (vigil needs root or CAP_NET_ADMIN to change the ruleset)", err)
		case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EAFNOSUPPORT):
			return fmt.Errorf("nftables: list tables: %w (is the nf_tables module available?)", err)
		}
		return fmt.Errorf("nftables: list tables: %w", err)
	}
	return nil
}

// New takes over opts.Table (replacing, in one transaction, whatever a previous run left in it)
// and returns a Dataplane with no services. It fails when vigil may not change the ruleset.
func New(logger *slog.Logger, opts Options) (*Dataplane, error) {
	if opts.Table == "" {
		opts.Table = "vigil"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dataplane{log: logger, opts: opts, services: map[string]*service{}, backRefs: map[string]int{}}
	connOpts := []nft.ConnOption{nft.AsLasting()}
	if opts.NetNS != "" {
		f, err := os.Open(opts.NetNS)
		if err != nil {
			return nil, fmt.Errorf("nftables: open network namespace: %w", err)
		}
		d.nsFD = f
		connOpts = append(connOpts, nft.WithNetNSFd(int(f.Fd())))
	}
	d.connOpts = connOpts
	conn, err := nft.New(connOpts...)
	if err != nil {
		d.closeNS()
		return nil, fmt.Errorf("nftables: open netlink: %w", err)
	}
	d.conn = conn
	if err := probe(conn); err != nil {
		d.release()
		return nil, err
	}
	if d.ct, err = openConntrack(opts.NetNS); err != nil {
		d.release()
		return nil, fmt.Errorf("nftables: open conntrack netlink: %w", err)
	}
	if d.kernel, err = openRuleset(conn.NetNS); err != nil {
		d.release()
		return nil, fmt.Errorf("nftables: open netlink for the ruleset generation: %w", err)
	}
	if err := d.rebuild(nil); err != nil {
		d.release()
		return nil, err
	}
	logger.Info("nftables data plane ready", "table", opts.Table, "source_nat", d.sourceNATName(), "flow_hash", opts.FlowHash)
	return d, nil
}

func (d *Dataplane) closeNS() {
	if d.nsFD != nil {
		d.nsFD.Close()
	}
}

func (d *Dataplane) release() {
	if d.ct != nil {
		d.ct.Close()
	}
	if d.kernel != nil {
		d.kernel.close()
	}
	d.conn.CloseLasting()
	d.closeNS()
}

// Register numbers as the kernel numbers them: 1..4 are 16-byte registers, 8..23 the 4-byte
// registers that overlay them (8 is the first four bytes of 1).
const (
	reg1     = 1
	reg3     = 3
	reg32_00 = 8
	reg32_08 = 16 // the first four bytes of reg3
)

// ipsDstNAT is IPS_DST_NAT of the conntrack status bits.
const ipsDstNAT = 1 << 5

// queueTable queues the messages that replace the table with an empty one holding the hooks
// and the dispatch maps.
func (d *Dataplane) queueTable() {
	c := d.conn
	d.table = &nft.Table{Name: d.opts.Table, Family: nft.TableFamilyINet}
	c.AddTable(d.table) // so that the delete below cannot fail when there is none
	c.DelTable(d.table)
	c.AddTable(d.table)

	d.svc4 = &nft.Set{Table: d.table, Name: "services4", IsMap: true, KeyType: nft.MustConcatSetType(nft.TypeInetProto, nft.TypeIPAddr, nft.TypeInetService), Concatenation: true, DataType: nft.TypeVerdict}
	d.svc6 = &nft.Set{Table: d.table, Name: "services6", IsMap: true, KeyType: nft.MustConcatSetType(nft.TypeInetProto, nft.TypeIP6Addr, nft.TypeInetService), Concatenation: true, DataType: nft.TypeVerdict}
	d.back4 = &nft.Set{Table: d.table, Name: "backends4", KeyType: d.svc4.KeyType, Concatenation: true, Counter: true}
	d.back6 = &nft.Set{Table: d.table, Name: "backends6", KeyType: d.svc6.KeyType, Concatenation: true, Counter: true}
	markKey := nft.MustConcatSetType(nft.TypeInetProto, nft.TypeMark)
	d.marks4 = &nft.Set{Table: d.table, Name: "fwmarks4", IsMap: true, KeyType: markKey, Concatenation: true, DataType: nft.TypeVerdict}
	d.marks6 = &nft.Set{Table: d.table, Name: "fwmarks6", IsMap: true, KeyType: markKey, Concatenation: true, DataType: nft.TypeVerdict}
	d.listen4 = &nft.Set{Table: d.table, Name: "listen4", KeyType: d.svc4.KeyType, Concatenation: true}
	d.listen6 = &nft.Set{Table: d.table, Name: "listen6", KeyType: d.svc6.KeyType, Concatenation: true}
	for _, s := range d.sharedSets() {
		// AddSet only fails on a malformed set, which would be a bug here.
		if err := c.AddSet(s, nil); err != nil {
			panic(fmt.Sprintf("nftables: table %s: add map %s: %v", d.opts.Table, s.Name, err))
		}
	}
	for _, h := range d.hookChains() {
		c.AddChain(h.chain)
		for _, r := range h.rules {
			c.AddRule(&nft.Rule{Table: d.table, Chain: h.chain, Exprs: r})
		}
	}
}

// sharedSets are the maps and sets every service uses.
func (d *Dataplane) sharedSets() []*nft.Set {
	return []*nft.Set{d.svc4, d.svc6, d.back4, d.back6, d.marks4, d.marks6, d.listen4, d.listen6}
}

// chainRules is a chain and the rules it holds when everything is in place.
type chainRules struct {
	chain *nft.Chain
	rules [][]expr.Any
}

// hookChains are the table's base chains: invalid packets to a service dropped, dispatch in
// prerouting and output, masquerade in postrouting.
func (d *Dataplane) hookChains() []chainRules {
	nat := func(name string, hook *nft.ChainHook, prio *nft.ChainPriority) *nft.Chain {
		return &nft.Chain{Name: name, Table: d.table, Type: nft.ChainTypeNAT, Hooknum: hook, Priority: prio}
	}
	// Marks first: a marked packet belongs to its fwmark service whatever its destination (as
	// with IPVS, where a fwmark service takes precedence over an address one).
	dispatch := [][]expr.Any{
		markDispatchExprs(unix.NFPROTO_IPV4, d.marks4.Name),
		markDispatchExprs(unix.NFPROTO_IPV6, d.marks6.Name),
		dispatchExprs(unix.NFPROTO_IPV4, d.svc4.Name),
		dispatchExprs(unix.NFPROTO_IPV6, d.svc6.Name),
	}
	return []chainRules{
		{&nft.Chain{Name: "invalid", Table: d.table, Type: nft.ChainTypeFilter, Hooknum: nft.ChainHookPrerouting, Priority: nft.ChainPriorityMangle}, [][]expr.Any{
			invalidExprs(unix.NFPROTO_IPV4, d.listen4.Name),
			invalidExprs(unix.NFPROTO_IPV6, d.listen6.Name),
		}},
		{nat("prerouting", nft.ChainHookPrerouting, nft.ChainPriorityNATDest), dispatch},
		{nat("output", nft.ChainHookOutput, nft.ChainPriorityNATDest), dispatch},
		{nat("postrouting", nft.ChainHookPostrouting, nft.ChainPriorityNATSource), [][]expr.Any{
			postExprs(unix.NFPROTO_IPV4, d.back4.Name, d.sourceNAT()),
			postExprs(unix.NFPROTO_IPV6, d.back6.Name, d.sourceNAT()),
		}},
	}
}

// sourceNAT is what postrouting does to the source of connections to backends (nil: nothing).
func (d *Dataplane) sourceNAT() *sourceNAT {
	if d.opts.NoMasquerade {
		return nil
	}
	return &sourceNAT{addr: d.opts.SNAT}
}

// sourceNATName says what postrouting does to the source, for the log.
func (d *Dataplane) sourceNATName() string {
	switch {
	case d.opts.NoMasquerade:
		return "none"
	case d.opts.SNAT.IsValid():
		return "snat to " + d.opts.SNAT.String()
	}
	return "masquerade"
}

// rebuild replaces the whole table, in one transaction, with one holding svcs (nil: none):
// New's install, Reconcile's repair, and Apply's or Remove's after a repair that failed. On
// success the services are svcs and nothing is unrepaired any more; on failure d keeps the
// services it had.
func (d *Dataplane) rebuild(svcs map[string]dataplane.Service) error {
	d.queueTable()
	services := make(map[string]*service, len(svcs))
	refs := map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(svcs)) {
		services[name] = d.newService(svcs[name], nil, refs)
	}
	if err := d.commit(true); err != nil {
		return fmt.Errorf("nftables: install table inet %s: %w", d.opts.Table, err)
	}
	d.services, d.backRefs, d.unrepaired = services, refs, nil
	return nil
}

// specs returns what every service wants, by name, in a map of its own.
func (d *Dataplane) specs() map[string]dataplane.Service {
	out := make(map[string]dataplane.Service, len(d.services))
	for name, s := range d.services {
		out[name] = s.svc
	}
	return out
}

// commit sends the queued messages as one transaction and keeps track of whether the table
// is still known to be in place: it is when the transaction replaced the whole table (full),
// or when it was known to be in place before; and nobody else committed in between, which the
// generation tells (the kernel counts every commit, so vigil's is the only one when the
// generation moved by exactly one). Otherwise the next Reconcile reads the table back.
func (d *Dataplane) commit(full bool) error {
	before, errBefore := d.kernel.generation()
	err := d.conn.Flush()
	if err != nil {
		// google/nftables stops reading the kernel's answers to a transaction at the first
		// EPERM or ENOBUFS; the rest would be taken for the answers to the next one.
		if conn, oerr := nft.New(d.connOpts...); oerr == nil {
			d.conn.CloseLasting()
			d.conn = conn
		} else {
			d.log.Warn("nftables: open netlink again after a failed transaction", "err", oerr)
		}
	}
	after, errAfter := d.kernel.generation()
	d.inPlaceKnown = err == nil && errBefore == nil && errAfter == nil && after == nextGeneration(before) &&
		(full || (d.inPlaceKnown && before == d.inPlace))
	d.inPlace = after
	return err
}

// service is what the kernel holds for one virtual service. Every object's name starts with
// prefix, which is new each time the service is created (so a re-creation never has to reuse
// the name of an object deleted in the same transaction).
type service struct {
	svc    dataplane.Service
	plan   plan
	prefix string
	chain  *nft.Chain // new connections: persistence, then the slot map
	// slots maps a slot number to the backend's address . port, or with persistence to a
	// goto to the backend's sticky chain.
	slots *nft.Set
	// keys is how many keys slots holds: at least len(plan.Slots), and never fewer than an
	// earlier plan's (see the slot loop in newService).
	keys int
	// sticky holds, with persistence, a chain and an affinity set (client addresses, with
	// timeout) for each active backend.
	sticky     map[netip.AddrPort]*stickyBackend
	nextSticky int
	// counted are the service's backends (any weight) and its sorry server, each holding a
	// reference to its element of back4 or back6.
	counted []netip.AddrPort
	// idle is the ct timeout object that gives the service's connections IdleTimeout.
	idle *nft.NamedObj
}

// stickyBackend is one active backend of a service with persistence: a connection from a
// client in aff, or one the slot map sends here, refreshes the client in aff and is translated
// to the backend. (One set per backend rather than one map client -> backend because nft
// cannot list a rule that stores a map lookup's result in a dynamic map.)
type stickyBackend struct {
	chain *nft.Chain
	aff   *nft.Set
}

// Apply creates the service or replaces its whole state in one nftables transaction.
func (d *Dataplane) Apply(ctx context.Context, svc dataplane.Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if err := sameFamily(svc); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("service %s: nftables data plane closed", svc.Name)
	}
	old := d.services[svc.Name]
	if old != nil && old.svc.Equal(svc) {
		return nil
	}
	for name, other := range d.services {
		if name != svc.Name && dispatchOf(other.svc) == dispatchOf(svc) {
			return fmt.Errorf("service %s: %s is already service %s's", svc.Name, dispatchOf(svc), name)
		}
	}
	var s *service
	if d.unrepaired != nil {
		// A repair failed, so the kernel's table may hold anything: put it all back, with svc.
		want := d.specs()
		want[svc.Name] = svc
		if err := d.rebuild(want); err != nil {
			return fmt.Errorf("service %s: apply: %w", svc.Name, err)
		}
		s = d.services[svc.Name]
	} else {
		refs := maps.Clone(d.backRefs)
		s = d.newService(svc, old, refs)
		if err := d.commit(false); err != nil {
			return fmt.Errorf("service %s: apply to table inet %s: %w", svc.Name, d.opts.Table, err)
		}
		d.services[svc.Name] = s
		d.backRefs = refs
	}
	if old != nil && svc.ShutdownSessions {
		var gone []netip.AddrPort
		for _, a := range old.counted {
			if !slices.Contains(s.counted, a) || dispatchOf(old.svc) != dispatchOf(s.svc) {
				gone = append(gone, a)
			}
		}
		d.shutdownSessions(old.svc, gone)
	}
	d.log.Info("nftables service applied", "vs", svc.Name, "scheduler", s.plan.Running, "slots", len(s.plan.Slots), "active", len(s.plan.Active))
	return nil
}

// dispatchOf names what sends packets to the service's chain: "tcp 192.0.2.1:80", or for a
// fwmark service "tcp fwmark 5 ipv4". Two services cannot share one.
func dispatchOf(svc dataplane.Service) string {
	if svc.Fwmark != 0 {
		fam := "ipv4"
		if svc.IPv6() {
			fam = "ipv6"
		}
		return fmt.Sprintf("%s fwmark %d %s", svc.Protocol, svc.Fwmark, fam)
	}
	return fmt.Sprintf("%s %s", svc.Protocol, netip.AddrPortFrom(svc.Listen.Addr().Unmap(), svc.Listen.Port()))
}

// sameFamily refuses backends of another address family than the listen address: DNAT cannot
// translate between families. (Validate makes a fwmark service's backends share one.)
func sameFamily(svc dataplane.Service) error {
	if svc.Fwmark != 0 {
		return nil
	}
	v4 := svc.Listen.Addr().Unmap().Is4()
	bs := svc.Backends
	if svc.Sorry != nil {
		bs = append(slices.Clip(bs), *svc.Sorry)
	}
	for _, b := range bs {
		if b.Addr.Addr().Unmap().Is4() != v4 {
			return fmt.Errorf("service %s: backend %s: address family differs from listen address %s (nftables NAT cannot translate between IPv4 and IPv6)", svc.Name, b.Addr, svc.Listen)
		}
	}
	return nil
}

// structural reports whether going from a to b needs new kernel objects rather than new
// contents.
func structural(a, b dataplane.Service) bool {
	return dispatchOf(a) != dispatchOf(b) || a.Persistence != b.Persistence || a.IdleTimeout != b.IdleTimeout
}

// newService queues the messages that take the kernel from old (nil: none) to svc and returns
// the new state. Nothing is sent.
func (d *Dataplane) newService(svc dataplane.Service, old *service, refs map[string]int) *service {
	c := d.conn
	if old != nil && structural(old.svc, svc) {
		d.queueDelete(old, refs)
		old = nil
	}
	svc.Listen = netip.AddrPortFrom(svc.Listen.Addr().Unmap(), svc.Listen.Port())
	s := &service{svc: svc, plan: planFor(svc, d.opts.FlowHash)}
	v4 := !svc.IPv6()
	addrType := nft.TypeIPAddr
	if !v4 {
		addrType = nft.TypeIP6Addr
	}
	backendType := nft.MustConcatSetType(addrType, nft.TypeInetService)
	persistent := svc.Persistence > 0
	if old == nil {
		d.nextID++
		s.prefix = fmt.Sprintf("vs%d", d.nextID)
		s.chain = c.AddChain(&nft.Chain{Name: s.prefix, Table: d.table})
		s.slots = &nft.Set{Table: d.table, Name: s.prefix + "_slots", IsMap: true, KeyType: slotKeyType, KeyByteOrder: nativeEndian, DataType: backendType, Comment: svc.Name}
		if persistent {
			s.slots.DataType = nft.TypeVerdict
			s.sticky = map[netip.AddrPort]*stickyBackend{}
		}
		// AddSet only fails on a malformed set, which would be a bug here.
		if err := c.AddSet(s.slots, nil); err != nil {
			panic(fmt.Sprintf("nftables: set %s: %v", s.slots.Name, err))
		}
		if svc.IdleTimeout > 0 {
			s.idle = &nft.NamedObj{Table: d.table, Name: s.prefix + "_idle", Type: nft.ObjTypeCtTimeout,
				Obj: idleTimeout(v4, svc.Protocol, svc.IdleTimeout)}
			addCtTimeout(c, s.idle)
		}
		dispatch, key := d.dispatchElem(svc)
		mustElems(c.SetAddElements(dispatch, []nft.SetElement{{Key: key, VerdictData: jumpTo(s.chain.Name)}}))
		if set := d.listenSet(svc); set != nil {
			mustElems(c.SetAddElements(set, []nft.SetElement{{Key: key}}))
		}
	} else {
		s.prefix, s.chain, s.slots, s.counted, s.nextSticky, s.idle, s.keys = old.prefix, old.chain, old.slots, old.counted, old.nextSticky, old.idle, old.keys
		c.FlushChain(s.chain)
		c.FlushSet(s.slots)
		if persistent {
			// Backends that stay active keep their chain and their clients; the others lose
			// both.
			s.sticky = map[netip.AddrPort]*stickyBackend{}
			for a, sb := range old.sticky {
				if slices.Contains(s.plan.Active, a) {
					s.sticky[a] = sb
					continue
				}
				c.FlushChain(sb.chain)
				c.DelChain(sb.chain)
				c.DelSet(sb.aff)
			}
		}
	}

	if persistent {
		for _, a := range s.plan.Active {
			if s.sticky[a] != nil {
				continue
			}
			s.nextSticky++
			name := fmt.Sprintf("%s_b%d", s.prefix, s.nextSticky)
			sb := &stickyBackend{
				chain: c.AddChain(&nft.Chain{Name: name, Table: d.table}),
				aff:   &nft.Set{Table: d.table, Name: name + "_clients", KeyType: addrType, HasTimeout: true, Timeout: max(svc.Persistence, time.Millisecond), Dynamic: true, Comment: svc.Name + " " + a.String()},
			}
			if err := c.AddSet(sb.aff, nil); err != nil {
				panic(fmt.Sprintf("nftables: set %s: %v", sb.aff.Name, err))
			}
			c.AddRule(&nft.Rule{Table: d.table, Chain: sb.chain, Exprs: stickyDNATExprs(a, sb.aff.Name)})
			s.sticky[a] = sb
		}
	}

	// Slots: the map and the modulus of the rule that indexes it change in the same
	// transaction. That is not atomic for a packet in flight: it runs the chain of the
	// generation it started in but looks the map up in whichever generation is current then,
	// so a packet picked by the old rule (modulus 7) can look for key 5 in the new map of 3.
	// A miss would refuse the connection, so keys past the new modulus stay, wrapped onto the
	// new slots: only such packets reach them, and they land on a current backend. The map
	// thus holds the most slots any plan had (at most maxSlots).
	if n := len(s.plan.Slots); n > 0 {
		s.keys = max(s.keys, n)
	} else {
		s.keys = 0
	}
	mustElems(c.SetAddElements(s.slots, s.slotElements()))
	for _, r := range s.rules() {
		c.AddRule(&nft.Rule{Table: d.table, Chain: s.chain, Exprs: r})
	}

	// References to the shared backend sets: every backend (any weight) and the sorry server,
	// so that counters survive weight changes.
	want := make([]netip.AddrPort, 0, len(svc.Backends)+1)
	for _, b := range svc.Backends {
		want = append(want, b.Addr)
	}
	if svc.Sorry != nil && !slices.Contains(want, svc.Sorry.Addr) {
		want = append(want, svc.Sorry.Addr)
	}
	for _, a := range s.counted {
		if !slices.Contains(want, a) {
			d.backendRef(refs, svc.Protocol, a, -1)
		}
	}
	for _, a := range want {
		if !slices.Contains(s.counted, a) {
			d.backendRef(refs, svc.Protocol, a, +1)
		}
	}
	s.counted = want
	return s
}

// slotElements are the contents of the service's slot map: keys 0 to s.keys-1, each the
// address . port of its slot's backend, or with persistence a goto to the backend's sticky
// chain.
func (s *service) slotElements() []nft.SetElement {
	n := len(s.plan.Slots)
	elems := make([]nft.SetElement, s.keys)
	for i := range elems {
		a := s.plan.Slots[i%n]
		elems[i] = nft.SetElement{Key: nativeEndian.PutUint32(uint32(i))}
		if s.sticky != nil {
			elems[i].VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: s.sticky[a].chain.Name}
		} else {
			elems[i].Val = backendKey(a)
		}
	}
	return elems
}

// rules are the rules of the service's chain, in order: the idle timeout; with persistence,
// a known client goes to its backend's sticky chain; the pick of a slot; and, reached only
// when nothing could take the connection, a counter (the connection goes on to the local
// stack, which refuses it unless something listens on the virtual address itself).
func (s *service) rules() [][]expr.Any {
	var out [][]expr.Any
	if s.idle != nil {
		out = append(out, []expr.Any{&expr.Objref{Type: int(nft.ObjTypeCtTimeout), Name: s.idle.Name}})
	}
	v4 := !s.svc.IPv6()
	for _, a := range s.plan.Active {
		if sb := s.sticky[a]; sb != nil {
			out = append(out, knownClientExprs(v4, sb.aff.Name, sb.chain.Name))
		}
	}
	if n := len(s.plan.Slots); n > 0 {
		out = append(out, pickExprs(v4, s.plan.Select, uint32(n), s.slots.Name, s.sticky != nil))
	}
	return append(out, refusedExprs())
}

func mustElems(err error) {
	// The library only fails here for anonymous sets, which vigil does not use.
	if err != nil {
		panic(fmt.Sprintf("nftables: set elements: %v", err))
	}
}

// queueDelete queues the removal of every object of s, in an order the kernel accepts within
// one transaction (references before what they refer to).
func (d *Dataplane) queueDelete(s *service, refs map[string]int) {
	c := d.conn
	dispatch, key := d.dispatchElem(s.svc)
	mustElems(c.SetDeleteElements(dispatch, []nft.SetElement{{Key: key}}))
	if set := d.listenSet(s.svc); set != nil {
		mustElems(c.SetDeleteElements(set, []nft.SetElement{{Key: key}}))
	}
	for _, a := range s.counted {
		d.backendRef(refs, s.svc.Protocol, a, -1)
	}
	c.FlushChain(s.chain)
	c.FlushSet(s.slots)
	for _, sb := range s.sticky {
		c.FlushChain(sb.chain)
		c.DelChain(sb.chain)
		c.DelSet(sb.aff)
	}
	c.DelSet(s.slots)
	c.DelChain(s.chain)
	if s.idle != nil {
		c.DeleteObject(s.idle)
	}
}

// dispatchElem returns the dispatch map that leads to svc's chain and svc's key in it: the
// address map of its family (protocol . address . port), or for a fwmark service the mark map
// of its family (protocol . mark).
func (d *Dataplane) dispatchElem(svc dataplane.Service) (*nft.Set, []byte) {
	v6 := svc.IPv6()
	switch {
	case svc.Fwmark != 0 && v6:
		return d.marks6, markKey(svc.Protocol, svc.Fwmark)
	case svc.Fwmark != 0:
		return d.marks4, markKey(svc.Protocol, svc.Fwmark)
	case v6:
		return d.svc6, serviceKey(svc.Protocol, svc.Listen)
	}
	return d.svc4, serviceKey(svc.Protocol, svc.Listen)
}

// listenSet is the set of svc's listen address (nil for a fwmark service, whose packets have
// no one address).
func (d *Dataplane) listenSet(svc dataplane.Service) *nft.Set {
	switch {
	case svc.Fwmark != 0:
		return nil
	case svc.IPv6():
		return d.listen6
	}
	return d.listen4
}

// backendRef queues the change of one service's use of backend a in the shared backend sets:
// the element is added with its first user and deleted with its last (so its counter starts
// from zero when a backend comes back after every service dropped it).
func (d *Dataplane) backendRef(refs map[string]int, p dataplane.Protocol, a netip.AddrPort, delta int) {
	set := d.back4
	if !a.Addr().Unmap().Is4() {
		set = d.back6
	}
	key := serviceKey(p, a)
	n := refs[string(key)] + delta
	switch {
	case delta > 0 && n == 1:
		mustElems(d.conn.SetAddElements(set, []nft.SetElement{{Key: key}}))
	case delta < 0 && n == 0:
		mustElems(d.conn.SetDeleteElements(set, []nft.SetElement{{Key: key}}))
	}
	if n == 0 {
		delete(refs, string(key))
	} else {
		refs[string(key)] = n
	}
}

// Remove deletes the service's rules and maps in one transaction. New connections to its
// address then reach the local stack; established ones keep their conntrack NAT binding and
// drain, unless the service had ShutdownSessions (see shutdownSessions).
func (d *Dataplane) Remove(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("service %s: %w", name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.services[name]
	if s == nil || d.closed {
		return nil
	}
	if d.unrepaired != nil {
		// A repair failed: put the whole table back, without the service.
		want := d.specs()
		delete(want, name)
		if err := d.rebuild(want); err != nil {
			return fmt.Errorf("service %s: remove: %w", name, err)
		}
	} else {
		refs := maps.Clone(d.backRefs)
		d.queueDelete(s, refs)
		if err := d.commit(false); err != nil {
			return fmt.Errorf("service %s: remove from table inet %s: %w", name, d.opts.Table, err)
		}
		delete(d.services, name)
		d.backRefs = refs
	}
	if s.svc.ShutdownSessions {
		d.shutdownSessions(s.svc, s.counted)
	}
	d.log.Info("nftables service removed", "vs", name)
	return nil
}

// Stats returns every service's counters, sorted by name. Total is the number of connections
// (flows for UDP) the kernel translated to each backend, counted in postrouting on each
// connection's first packet; a backend shared by two services of the same protocol shows the
// sum in both. Active counts the backend's established TCP connections (any UDP flow) in
// conntrack, read by dumping the conntrack table, so a call costs time in proportion to the
// whole table; backends that left the set but still have some are listed as Draining. Refused
// counts new connections no backend could take. Bytes and dial failures are not known to this
// data plane and stay 0.
func (d *Dataplane) Stats() []dataplane.ServiceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	totals := map[string]uint64{}
	for _, set := range []*nft.Set{d.back4, d.back6} {
		elems, err := d.conn.GetSetElements(set)
		if err != nil {
			d.log.Warn("nftables stats: read counters", "set", set.Name, "err", err)
			continue
		}
		for _, e := range elems {
			if e.Counter != nil {
				totals[string(e.Key)] = e.Counter.Packets
			}
		}
	}
	active := d.activeFlows()
	out := make([]dataplane.ServiceStats, 0, len(d.services))
	for _, s := range d.services {
		st := dataplane.ServiceStats{Name: s.svc.Name, Protocol: s.svc.Protocol, Listen: s.svc.Listen, Fwmark: s.svc.Fwmark, Scheduler: s.plan.Running,
			NotServing: d.notServing(s.svc.Name)}
		total := func(a netip.AddrPort) uint64 { return totals[string(serviceKey(s.svc.Protocol, a))] }
		act := active[s.svc.Name]
		for _, b := range s.svc.Backends {
			st.Backends = append(st.Backends, dataplane.BackendStats{Addr: b.Addr, Weight: b.Weight, Active: act[b.Addr], Total: total(b.Addr)})
		}
		if s.svc.Sorry != nil {
			st.Backends = append(st.Backends, dataplane.BackendStats{Addr: s.svc.Sorry.Addr, Sorry: true, Active: act[s.svc.Sorry.Addr], Total: total(s.svc.Sorry.Addr)})
		}
		var draining []dataplane.BackendStats
		for a, n := range act {
			if !slices.Contains(s.counted, a) {
				draining = append(draining, dataplane.BackendStats{Addr: a, Draining: true, Active: n})
			}
		}
		sort.Slice(draining, func(i, j int) bool { return draining[i].Addr.Compare(draining[j].Addr) < 0 })
		st.Backends = append(st.Backends, draining...)
		if rules, err := d.conn.GetRules(d.table, s.chain); err != nil {
			d.log.Warn("nftables stats: read rules", "vs", s.svc.Name, "chain", s.chain.Name, "err", err)
		} else if len(rules) > 0 {
			st.Refused = counterOf(rules[len(rules)-1])
		}
		st.SumBackends()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close deletes vigil's table (unless KeepOnClose) and releases the netlink socket.
// Established connections keep their conntrack NAT bindings and so keep flowing.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.release()
	if d.opts.KeepOnClose {
		d.log.Info("nftables data plane closed, table kept", "table", d.opts.Table)
		return nil
	}
	d.conn.DelTable(d.table)
	if err := d.conn.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table inet %s: %w", d.opts.Table, err)
	}
	d.log.Info("nftables data plane closed, table deleted", "table", d.opts.Table)
	return nil
}

// serviceKey is the key of the dispatch maps and masquerade sets: protocol . address . port.
func serviceKey(p dataplane.Protocol, a netip.AddrPort) []byte {
	k := []byte{protoNumber(p), 0, 0, 0}
	k = append(k, a.Addr().Unmap().AsSlice()...)
	return append(k, byte(a.Port()>>8), byte(a.Port()), 0, 0)
}

// markKey is the key of the fwmark dispatch maps: protocol . mark (host byte order, as meta
// mark loads it).
func markKey(p dataplane.Protocol, mark uint32) []byte {
	return append([]byte{protoNumber(p), 0, 0, 0}, nativeEndian.PutUint32(mark)...)
}

// backendKey is address . port as a concatenation stores it (each field padded to 4 bytes).
func backendKey(a netip.AddrPort) []byte {
	k := a.Addr().Unmap().AsSlice()
	return append(k, byte(a.Port()>>8), byte(a.Port()), 0, 0)
}

func protoNumber(p dataplane.Protocol) byte {
	if p == dataplane.UDP {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}
