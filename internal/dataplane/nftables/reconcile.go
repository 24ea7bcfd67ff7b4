package nftables

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// Reconcile implements dataplane.Dataplane. When the kernel's ruleset generation is the one
// at which vigil's table was last known to be in place, nobody has committed anything since
// and Reconcile returns at once (one netlink round trip). Otherwise it reads the table back
// (chains, rules, sets and the elements of every map but the persistence client sets) and
// compares it with what the services want; on any difference it reinstalls the whole table in
// one transaction, as New and Apply build it, and returns one Repair per chain, map or set
// that differed (one for the whole table when the table is gone).
func (d *Dataplane) Reconcile(ctx context.Context) []dataplane.Repair {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || ctx.Err() != nil {
		return nil
	}
	gen, genErr := d.kernel.generation()
	if genErr == nil && d.inPlaceKnown && gen == d.inPlace {
		return nil
	}
	d.readBacks++
	found, err := d.compare()
	if err != nil {
		d.inPlaceKnown = false
		return []dataplane.Repair{{Drift: fmt.Sprintf("nftables table inet %s could not be read back", d.opts.Table), Err: err}}
	}
	if len(found) == 0 {
		// Read after gen, so the table was in place at gen at least.
		d.inPlace, d.inPlaceKnown = gen, genErr == nil
		d.unrepaired = nil
		return nil
	}
	err = d.rebuild(d.specs())
	repairs := make([]dataplane.Repair, len(found))
	for i, f := range found {
		repairs[i] = dataplane.Repair{Service: f.service, Drift: f.what, Err: err}
	}
	if err != nil {
		d.inPlaceKnown = false
		d.unrepaired = map[string]string{}
		for _, f := range found {
			d.unrepaired[f.service] = joinDrift(d.unrepaired[f.service], f.what+": not repaired: "+err.Error())
		}
	}
	return repairs
}

func joinDrift(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// notServing is Stats' NotServing for the service named name.
func (d *Dataplane) notServing(name string) string {
	return joinDrift(d.unrepaired[""], d.unrepaired[name])
}

// drift is one difference between the kernel's table and what the services want.
type drift struct {
	service string // "" for the table's own objects
	what    string
}

// wantChain is a chain vigil's table should hold, with its rules and the service it serves.
type wantChain struct {
	chainRules
	service string
}

// wantSet is a set or map vigil's table should hold and, unless elems is nil (a persistence
// client set, which packets fill), its elements: the text of each key's value, and the service
// the element serves.
type wantSet struct {
	set     *nft.Set
	service string
	elems   map[string]wantElem
}

type wantElem struct {
	value   string
	service string
}

// wanted lists the chains and sets of the table as the services want it, from the same
// pieces Apply installs.
func (d *Dataplane) wanted() (map[string]wantChain, map[string]wantSet) {
	chains := map[string]wantChain{}
	for _, h := range d.hookChains() {
		chains[h.chain.Name] = wantChain{chainRules: h}
	}
	sets := map[string]wantSet{}
	for _, s := range d.sharedSets() {
		sets[s.Name] = wantSet{set: s, elems: map[string]wantElem{}}
	}
	for _, name := range slices.Sorted(maps.Keys(d.services)) {
		s := d.services[name]
		chains[s.chain.Name] = wantChain{chainRules{s.chain, s.rules()}, name}
		for a, sb := range s.sticky {
			chains[sb.chain.Name] = wantChain{chainRules{sb.chain, [][]expr.Any{stickyDNATExprs(a, sb.aff.Name)}}, name}
			sets[sb.aff.Name] = wantSet{set: sb.aff, service: name}
		}
		slots := wantSet{set: s.slots, service: name, elems: map[string]wantElem{}}
		for _, e := range s.slotElements() {
			slots.elems[string(e.Key)] = wantElem{elemValue(e), name}
		}
		sets[s.slots.Name] = slots
		dispatch, key := d.dispatchElem(s.svc)
		sets[dispatch.Name].elems[string(key)] = wantElem{verdictText(unix.NFT_JUMP, s.chain.Name), name}
		if set := d.listenSet(s.svc); set != nil {
			sets[set.Name].elems[string(key)] = wantElem{"", name}
		}
		for _, a := range s.counted {
			set := d.back4
			if !a.Addr().Unmap().Is4() {
				set = d.back6
			}
			sets[set.Name].elems[string(serviceKey(s.svc.Protocol, a))] = wantElem{}
		}
	}
	return chains, sets
}

// compare reads vigil's table back and returns how it differs from what the services want.
func (d *Dataplane) compare() ([]drift, error) {
	c := d.conn
	table := "nftables table inet " + d.opts.Table
	flags, exists, err := d.kernel.tableFlags(d.opts.Table)
	switch {
	case err != nil:
		return nil, err
	case !exists:
		return []drift{{what: table + " missing"}}, nil
	case flags&tableOwner != 0:
		// vigil's own table has no owner; another program made this one, and only it may
		// change it.
		return []drift{{what: table + " taken by another program (owner flag)"}}, nil
	}
	var found []drift
	if flags&tableDormant != 0 {
		found = append(found, drift{what: table + " dormant (its chains see no packets)"})
	}

	wantChains, wantSets := d.wanted()
	all, err := c.ListChainsOfTableFamily(nft.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	have := map[string]*nft.Chain{}
	for _, ch := range all {
		if ch.Table.Name == d.opts.Table {
			have[ch.Name] = ch
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wantChains)) {
		w := wantChains[name]
		got := have[name]
		if got == nil {
			found = append(found, drift{w.service, "chain " + name + " missing"})
			continue
		}
		if !sameHook(w.chain, got) {
			found = append(found, drift{w.service, "chain " + name + ": " + hookText(got) + ", want " + hookText(w.chain)})
			continue
		}
		rules, err := c.GetRules(d.table, got)
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", name, err)
		}
		if what := compareRules(w.rules, rules); what != "" {
			found = append(found, drift{w.service, "chain " + name + ": " + what})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		if _, ok := wantChains[name]; !ok {
			found = append(found, drift{what: "chain " + name + " is not vigil's"})
		}
	}

	sets, err := c.GetSets(d.table)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	haveSets := map[string]*nft.Set{}
	for _, s := range sets {
		haveSets[s.Name] = s
	}
	for _, name := range slices.Sorted(maps.Keys(wantSets)) {
		w := wantSets[name]
		got := haveSets[name]
		switch {
		case got == nil:
			found = append(found, drift{w.service, kind(w.set) + " " + name + " missing"})
			continue
		case got.IsMap != w.set.IsMap || got.HasTimeout != w.set.HasTimeout || got.Dynamic != w.set.Dynamic:
			found = append(found, drift{w.service, kind(w.set) + " " + name + " redefined"})
			continue
		case w.elems == nil:
			continue
		}
		elems, err := c.GetSetElements(got)
		if err != nil {
			return nil, fmt.Errorf("list elements of %s: %w", name, err)
		}
		found = append(found, compareElems(w, elems)...)
	}
	for _, name := range slices.Sorted(maps.Keys(haveSets)) {
		if _, ok := wantSets[name]; !ok {
			found = append(found, drift{what: kind(haveSets[name]) + " " + name + " is not vigil's"})
		}
	}
	return found, nil
}

func kind(s *nft.Set) string {
	if s.IsMap {
		return "map"
	}
	return "set"
}

// sameHook reports whether got has want's type, hook, priority and an accept policy (or,
// for a regular chain, no hook).
func sameHook(want, got *nft.Chain) bool {
	if want.Hooknum == nil || got.Hooknum == nil {
		return want.Hooknum == nil && got.Hooknum == nil
	}
	return *want.Hooknum == *got.Hooknum && got.Priority != nil && *want.Priority == *got.Priority &&
		want.Type == got.Type && (got.Policy == nil || *got.Policy == nft.ChainPolicyAccept)
}

func hookText(c *nft.Chain) string {
	if c.Hooknum == nil {
		return "regular chain"
	}
	policy := "accept"
	if c.Policy != nil && *c.Policy == nft.ChainPolicyDrop {
		policy = "drop"
	}
	prio := "?"
	if c.Priority != nil {
		prio = fmt.Sprint(*c.Priority)
	}
	return fmt.Sprintf("type %s hook %d priority %s policy %s", c.Type, *c.Hooknum, prio, policy)
}

// compareRules says how the rules read back differ from the wanted ones ("" when they do not).
func compareRules(want [][]expr.Any, got []*nft.Rule) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d rules, want %d", len(got), len(want))
	}
	var altered []string
	for i, r := range got {
		if !sameExprs(want[i], r.Exprs) {
			altered = append(altered, fmt.Sprint(i+1))
		}
	}
	if altered == nil {
		return ""
	}
	return fmt.Sprintf("rule %s of %d altered", strings.Join(altered, ", "), len(want))
}

func sameExprs(want, got []expr.Any) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if !reflect.DeepEqual(canonical(want[i]), canonical(got[i])) {
			return false
		}
	}
	return true
}

// canonical returns a copy of e that compares equal to the kernel's listing of it: counters
// at zero, registers by their 4-byte numbers (the kernel lists a 4-byte register that starts a
// 16-byte one by the 16-byte number: 8 as 1, 12 as 2), and NAT ranges as the kernel keeps
// them (a missing end is the start, and a range with a port is marked specified).
func canonical(e expr.Any) expr.Any {
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return e
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	fields := c.Elem()
	for i := range fields.NumField() {
		// Every register field of google/nftables' expressions is a uint32 named *Reg*
		// (Register, SourceRegister, RegAddrMin, SrcRegKey...).
		if f := fields.Type().Field(i); f.IsExported() && f.Type.Kind() == reflect.Uint32 && strings.Contains(f.Name, "Reg") {
			if n := fields.Field(i).Uint(); n >= 1 && n <= 4 {
				fields.Field(i).SetUint(reg32_00 + (n-1)*4)
			}
		}
	}
	switch x := c.Interface().(type) {
	case *expr.Counter:
		x.Bytes, x.Packets = 0, 0
	case *expr.NAT:
		x.RegAddrMax = cmp.Or(x.RegAddrMax, x.RegAddrMin)
		x.RegProtoMax = cmp.Or(x.RegProtoMax, x.RegProtoMin)
		x.Specified = x.Specified || x.RegProtoMin != 0
	}
	return c.Interface().(expr.Any)
}

// compareElems compares a map's or set's elements read back with the wanted ones: one drift
// per service whose elements differ (and one for elements nobody wants).
func compareElems(w wantSet, got []nft.SetElement) []drift {
	type tally struct{ missing, changed, extra int }
	by := map[string]*tally{}
	count := func(service string) *tally {
		if by[service] == nil {
			by[service] = &tally{}
		}
		return by[service]
	}
	seen := make(map[string]bool, len(got))
	for _, e := range got {
		key := string(e.Key)
		seen[key] = true
		want, ok := w.elems[key]
		switch {
		case !ok:
			count("").extra++
		case want.value != readValue(w.set, e):
			count(want.service).changed++
		}
	}
	for key, want := range w.elems {
		if !seen[key] {
			count(want.service).missing++
		}
	}
	var out []drift
	for _, service := range slices.Sorted(maps.Keys(by)) {
		t := by[service]
		var parts []string
		if t.missing > 0 {
			parts = append(parts, fmt.Sprintf("%d missing", t.missing))
		}
		if t.changed > 0 {
			parts = append(parts, fmt.Sprintf("%d changed", t.changed))
		}
		if t.extra > 0 {
			parts = append(parts, fmt.Sprintf("%d not vigil's", t.extra))
		}
		out = append(out, drift{service, fmt.Sprintf("%s %s: elements %s", kind(w.set), w.set.Name, strings.Join(parts, ", "))})
	}
	return out
}

// elemValue is the text of a wanted element's value: its data, or its verdict.
func elemValue(e nft.SetElement) string {
	if e.VerdictData != nil {
		return verdictText(int32(e.VerdictData.Kind), e.VerdictData.Chain)
	}
	return hex.EncodeToString(e.Val)
}

// readValue is the text of an element's value as read back: google/nftables leaves a verdict
// map's value as the netlink attributes of the verdict.
func readValue(set *nft.Set, e nft.SetElement) string {
	if !set.IsMap || set.DataType.GetNFTMagic() != nft.TypeVerdict.GetNFTMagic() {
		return hex.EncodeToString(e.Val)
	}
	ad, err := netlink.NewAttributeDecoder(e.Val)
	if err != nil {
		return "undecodable verdict " + hex.EncodeToString(e.Val)
	}
	ad.ByteOrder = binary.BigEndian
	var code int32
	var chain string
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			code = int32(ad.Uint32())
		case unix.NFTA_VERDICT_CHAIN:
			chain = ad.String()
		}
	}
	return verdictText(code, chain)
}

func verdictText(code int32, chain string) string {
	return fmt.Sprintf("verdict %d %s", code, chain)
}
