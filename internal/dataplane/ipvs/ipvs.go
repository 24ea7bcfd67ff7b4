package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"sync"

	"github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// Options configure a Dataplane. The zero value works.
type Options struct {
	// DefaultForwarding is the lb_kind of every service (NAT when empty). dataplane.Service
	// has no field for it yet.
	DefaultForwarding Forwarding
	// KeepOnClose leaves vigil's virtual services in the kernel when Close returns, so that a
	// restart does not interrupt new connections; the next run adopts them when it applies
	// services with the same address, port and protocol.
	KeepOnClose bool
}

// client is the part of the cloudflare/ipvs client vigil uses; tests put a fake behind it.
type client interface {
	Service(ipvs.Service) (ipvs.ServiceExtended, error)
	CreateService(ipvs.Service) error
	UpdateService(ipvs.Service) error
	RemoveService(ipvs.Service) error
	Destinations(ipvs.Service) ([]ipvs.DestinationExtended, error)
	CreateDestination(ipvs.Service, ipvs.Destination) error
	UpdateDestination(ipvs.Service, ipvs.Destination) error
	RemoveDestination(ipvs.Service, ipvs.Destination) error
}

// Dataplane programs the kernel's IPVS table. It only ever changes the virtual services it
// created or adopted (by Apply); methods are safe for concurrent use.
type Dataplane struct {
	log      *slog.Logger
	opts     Options
	fwd      ipvs.ForwardType
	mu       sync.Mutex
	c        client
	closer   io.Closer
	services map[string]*owned
	// stale are services vigil replaced (new address, port or protocol) but could not remove.
	stale  []ipvs.Service
	closed bool
}

// owned is a virtual service vigil created or adopted.
type owned struct {
	svc dataplane.Service // the last state applied in full
	id  ipvs.Service      // the kernel's identity of it
	// notServing says what the last Reconcile found out of place and could not put back.
	notServing string
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// errNoIPVS is the message for a kernel without the ip_vs module.
const errNoIPVS = "ipvs: the kernel has no IPVS (modprobe ip_vs, or use dataplane nftables or userspace)"

// open connects to the kernel's IPVS and checks that vigil may read its table.
func open() (ipvs.Client, error) {
	c, err := ipvs.New()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", errNoIPVS, err)
		}
		return nil, fmt.Errorf("ipvs: open generic netlink: %w", err)
	}
	if _, err := c.Services(); err != nil {
		if cl, ok := c.(io.Closer); ok {
			cl.Close()
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("ipvs: list services: %w (vigil needs root or CAP_NET_ADMIN)", err)
		}
		return nil, fmt.Errorf("ipvs: list services: %w", err)
	}
	return c, nil
}

// Available reports why the IPVS data plane cannot run here (nil when it can): no IPVS in the
// kernel (errors.Is(err, os.ErrNotExist)), or no permission to read its table.
func Available() error {
	c, err := open()
	if err != nil {
		return err
	}
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
	return nil
}

// New connects to the kernel's IPVS in the caller's network namespace (the netlink socket
// stays there). Virtual services already in the kernel are left alone until an Apply names
// one (see the package documentation). When the kernel has no IPVS the error says so and
// errors.Is(err, os.ErrNotExist) holds.
func New(logger *slog.Logger, opts Options) (*Dataplane, error) {
	if _, err := opts.DefaultForwarding.kernel(); err != nil {
		return nil, fmt.Errorf("ipvs: options: %w", err)
	}
	c, err := open()
	if err != nil {
		return nil, err
	}
	d, err := newWithClient(logger, opts, c)
	if err != nil {
		return nil, err
	}
	if cl, ok := c.(io.Closer); ok {
		d.closer = cl
	}
	d.log.Info("ipvs data plane ready", "forwarding", string(opts.DefaultForwarding), "keep_on_close", opts.KeepOnClose)
	return d, nil
}

func newWithClient(logger *slog.Logger, opts Options, c client) (*Dataplane, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.DefaultForwarding == "" {
		opts.DefaultForwarding = NAT
	}
	fwd, err := opts.DefaultForwarding.kernel()
	if err != nil {
		return nil, fmt.Errorf("ipvs: options: %w", err)
	}
	return &Dataplane{log: logger, opts: opts, fwd: fwd, c: c, services: map[string]*owned{}}, nil
}

// forwardingOf is the service's lb_kind, or Options.DefaultForwarding when it names none.
func (d *Dataplane) forwardingOf(svc dataplane.Service) (ipvs.ForwardType, error) {
	if svc.Forwarding == "" {
		return d.fwd, nil
	}
	fwd, err := Forwarding(svc.Forwarding).kernel()
	if err != nil {
		return 0, fmt.Errorf("ipvs: service %s: %w", svc.Name, err)
	}
	return fwd, nil
}

// isMissing reports whether err is the kernel's answer for a service or destination that
// does not exist.
func isMissing(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)
}

// Apply makes the kernel's virtual service for svc hold exactly svc's state, with the fewest
// calls: the virtual service is updated in place when only its scheduler or persistence
// changed, and re-created (new first, then the old one removed) when its address, port or
// protocol changed. Destinations are added first, then their weights changed (raised before
// lowered), then the ones that left removed, so a service with a live backend before and after
// never has none in between. IPVS takes each call on its own, so a new connection during Apply
// may see an intermediate state (but never an empty one when neither end is empty). Applying
// the same state again makes no change.
func (d *Dataplane) Apply(ctx context.Context, svc dataplane.Service) error {
	if err := svc.Validate(); err != nil {
		return fmt.Errorf("ipvs: %w", err)
	}
	want := virtual(svc)
	fwd, err := d.forwardingOf(svc)
	if err != nil {
		return err
	}
	dests, err := destinations(svc, fwd)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("ipvs: apply %s: data plane closed", svc.Name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ipvs: apply %s: %w", svc.Name, err)
	}
	rec := d.services[svc.Name]
	if rec == nil || !sameIdentity(rec.id, want) {
		for name, o := range d.services {
			if name != svc.Name && sameIdentity(o.id, want) {
				return fmt.Errorf("ipvs: apply %s: %s already belongs to service %s", svc.Name, serviceKey(want), name)
			}
		}
	}
	created, err := d.ensureService(svc, want)
	if err != nil {
		return err
	}
	if err := d.syncDestinations(ctx, svc, want, dests); err != nil {
		if created {
			// Nothing relies on a service made in this call: take it away again, so the
			// kernel keeps the previous state.
			if rerr := d.c.RemoveService(want); rerr != nil && !isMissing(rerr) {
				d.log.Warn("ipvs: cannot remove a half-built service", "vs", svc.Name, "service", serviceKey(want), "err", rerr)
			}
		}
		return err
	}
	if rec != nil && !sameIdentity(rec.id, want) {
		if err := d.c.RemoveService(rec.id); err != nil && !isMissing(err) {
			// The new service is in force; Close tries the old one again.
			d.stale = append(d.stale, rec.id)
			d.services[svc.Name] = &owned{svc: svc, id: want}
			return fmt.Errorf("ipvs: apply %s: remove the previous %s: %w", svc.Name, serviceKey(rec.id), err)
		}
	}
	if rec == nil || rec.svc.IdleTimeout != svc.IdleTimeout || rec.svc.ShutdownSessions != svc.ShutdownSessions {
		if svc.IdleTimeout > 0 {
			d.log.Warn("ipvs: idle timeouts are global in IPVS (ipvsadm --set); this service's is not applied", "vs", svc.Name, "idle_timeout", svc.IdleTimeout)
		}
		if svc.ShutdownSessions {
			d.log.Warn("ipvs: shutdown sessions is global in IPVS (sysctl net.ipv4.vs.expire_nodest_conn=1); not applied per service", "vs", svc.Name)
		}
	}
	d.services[svc.Name] = &owned{svc: svc, id: want}
	return nil
}

// ensureService creates the virtual service or updates its settings; it reports whether it
// created it.
func (d *Dataplane) ensureService(svc dataplane.Service, want ipvs.Service) (bool, error) {
	k, err := d.c.Service(want)
	switch {
	case isMissing(err):
		if err := d.createService(svc.Name, want); err != nil {
			return false, fmt.Errorf("ipvs: apply %s: %w", svc.Name, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("ipvs: apply %s: get %s: %w", svc.Name, serviceKey(want), err)
	}
	if _, ours := d.services[svc.Name]; !ours || !sameIdentity(d.services[svc.Name].id, want) {
		d.log.Info("ipvs: adopting a service already in the kernel", "vs", svc.Name, "service", serviceKey(want))
	}
	if !sameVirtual(k.Service, want) {
		if err := d.updateService(want); err != nil {
			return false, fmt.Errorf("ipvs: apply %s: %w", svc.Name, err)
		}
	}
	return false, nil
}

func (d *Dataplane) createService(name string, want ipvs.Service) error {
	if err := d.c.CreateService(want); err != nil {
		return fmt.Errorf("create %s scheduler %s: %w", serviceKey(want), want.Scheduler, err)
	}
	d.log.Info("ipvs: service created", "vs", name, "service", serviceKey(want), "scheduler", want.Scheduler)
	return nil
}

func (d *Dataplane) updateService(want ipvs.Service) error {
	if err := d.c.UpdateService(want); err != nil {
		return fmt.Errorf("update %s scheduler %s flags %v: %w", serviceKey(want), want.Scheduler, want.Flags, err)
	}
	return nil
}

// syncDestinations makes the kernel's destinations of want exactly dests.
func (d *Dataplane) syncDestinations(ctx context.Context, svc dataplane.Service, want ipvs.Service, dests []ipvs.Destination) error {
	have, err := d.c.Destinations(want)
	if err != nil {
		return fmt.Errorf("ipvs: apply %s: list destinations of %s: %w", svc.Name, serviceKey(want), err)
	}
	for _, ch := range destChanges(have, dests) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ipvs: apply %s: %w", svc.Name, err)
		}
		if err := d.change(want, ch); err != nil {
			return fmt.Errorf("ipvs: apply %s: %w", svc.Name, err)
		}
	}
	return nil
}

// destChange is one call that brings one destination of a service to what the service wants.
type destChange struct {
	op   destOp
	dest ipvs.Destination // the wanted destination; for removeDest, the kernel's
	// drift says what differed, as Reconcile reports it.
	drift string
}

type destOp int

const (
	addDest destOp = iota
	setDest
	removeDest
)

// destChanges returns the calls that turn the kernel's destinations have into dests, in the
// order that keeps a live destination throughout when there is one before and after:
// additions, then raised weights, then lowered weights (and other changes), then removals.
func destChanges(have []ipvs.DestinationExtended, dests []ipvs.Destination) []destChange {
	current := make(map[netip.AddrPort]ipvs.Destination, len(have))
	for _, h := range have {
		current[destKey(h.Destination)] = h.Destination
	}
	wanted := make(map[netip.AddrPort]bool, len(dests))
	var add, raise, lower []destChange
	for _, w := range dests {
		key := destKey(w)
		wanted[key] = true
		h, ok := current[key]
		switch {
		case !ok:
			add = append(add, destChange{addDest, w, fmt.Sprintf("IPVS destination %s missing", key)})
		case h.Weight < w.Weight:
			raise = append(raise, destChange{setDest, w, fmt.Sprintf("IPVS destination %s weight %d, want %d", key, h.Weight, w.Weight)})
		case h.Weight > w.Weight:
			lower = append(lower, destChange{setDest, w, fmt.Sprintf("IPVS destination %s weight %d, want %d", key, h.Weight, w.Weight)})
		case h.FwdMethod != w.FwdMethod:
			lower = append(lower, destChange{setDest, w, fmt.Sprintf("IPVS destination %s forwarding %s, want %s", key, lbKind(h.FwdMethod), lbKind(w.FwdMethod))})
		case h.UpperThreshold != w.UpperThreshold || h.LowerThreshold != w.LowerThreshold:
			lower = append(lower, destChange{setDest, w, fmt.Sprintf("IPVS destination %s thresholds %d/%d, want %d/%d", key, h.UpperThreshold, h.LowerThreshold, w.UpperThreshold, w.LowerThreshold)})
		}
	}
	out := append(append(add, raise...), lower...)
	for _, h := range have {
		if key := destKey(h.Destination); !wanted[key] {
			out = append(out, destChange{removeDest, h.Destination, fmt.Sprintf("IPVS destination %s is not one of the service's", key)})
		}
	}
	return out
}

// change makes one destination call on service id.
func (d *Dataplane) change(id ipvs.Service, ch destChange) error {
	key, w := destKey(ch.dest), ch.dest
	switch ch.op {
	case addDest:
		if err := d.c.CreateDestination(id, w); err != nil {
			return fmt.Errorf("add destination %s weight %d to %s: %w", key, w.Weight, serviceKey(id), err)
		}
	case setDest:
		if err := d.c.UpdateDestination(id, w); err != nil {
			return fmt.Errorf("set destination %s of %s to weight %d: %w", key, serviceKey(id), w.Weight, err)
		}
	case removeDest:
		// The kernel keeps a removed destination's connections (they drain) unless
		// net.ipv4.vs.expire_nodest_conn is set.
		if err := d.c.RemoveDestination(id, w); err != nil && !isMissing(err) {
			return fmt.Errorf("remove destination %s from %s: %w", key, serviceKey(id), err)
		}
	}
	return nil
}

// Remove deletes the virtual service vigil made for name; established connections stay until
// they end (unless net.ipv4.vs.expire_nodest_conn is set). Unknown names are not an error.
func (d *Dataplane) Remove(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.services[name]
	if rec == nil {
		return nil
	}
	if err := d.c.RemoveService(rec.id); err != nil && !isMissing(err) {
		return fmt.Errorf("ipvs: remove %s (%s): %w", name, serviceKey(rec.id), err)
	}
	delete(d.services, name)
	d.log.Info("ipvs: service removed", "vs", name, "service", serviceKey(rec.id))
	return nil
}

// Stats reads each of vigil's services' destinations from the kernel, sorted by name. Active
// is IPVS's active connections (TCP established; for UDP, the flows it counts as active),
// Total, BytesIn and BytesOut its 64-bit counters. A destination removed while it had
// connections is not listed by the kernel, so Draining is never set; Refused and
// DialFailures are not counted by IPVS and stay 0.
func (d *Dataplane) Stats() []dataplane.ServiceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.services))
	for n := range d.services {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]dataplane.ServiceStats, 0, len(names))
	for _, n := range names {
		rec := d.services[n]
		st := dataplane.ServiceStats{Name: n, Protocol: rec.svc.Protocol, Listen: rec.svc.Listen, Fwmark: rec.svc.Fwmark, Scheduler: dataplane.Scheduler(virtual(rec.svc).Scheduler),
			NotServing: rec.notServing}
		have, err := d.c.Destinations(rec.id)
		if err != nil {
			d.log.Warn("ipvs: stats: list destinations", "vs", n, "service", serviceKey(rec.id), "err", err)
			out = append(out, st)
			continue
		}
		order := map[string]int{}
		sorryKey := ""
		fwd, _ := d.forwardingOf(rec.svc)
		if dests, err := destinations(rec.svc, fwd); err == nil {
			for i, w := range dests {
				order[destKey(w).String()] = i
			}
			if sorryActive(rec.svc) {
				sorryKey = destKey(dests[0]).String()
			}
		}
		for _, h := range have {
			st.Backends = append(st.Backends, dataplane.BackendStats{
				Addr:     destKey(h.Destination),
				Weight:   int(h.Weight),
				Sorry:    destKey(h.Destination).String() == sorryKey,
				Active:   int64(h.ActiveConnections),
				Total:    h.Stats64.Connections,
				BytesIn:  h.Stats64.IncomingBytes,
				BytesOut: h.Stats64.OutgoingBytes,
			})
		}
		rank := func(b dataplane.BackendStats) int {
			if i, ok := order[b.Addr.String()]; ok {
				return i
			}
			return len(order)
		}
		sort.SliceStable(st.Backends, func(i, j int) bool { return rank(st.Backends[i]) < rank(st.Backends[j]) })
		st.SumBackends()
		out = append(out, st)
	}
	return out
}

// Close removes every virtual service vigil made (unless Options.KeepOnClose) and closes the
// netlink socket. Services vigil did not make stay. Established connections to removed
// services drain as the kernel lets them.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if !d.opts.KeepOnClose {
		names := make([]string, 0, len(d.services))
		for n := range d.services {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			rec := d.services[n]
			if err := d.c.RemoveService(rec.id); err != nil && !isMissing(err) {
				errs = append(errs, fmt.Errorf("ipvs: close: remove %s (%s): %w", n, serviceKey(rec.id), err))
			}
		}
		for _, id := range d.stale {
			if err := d.c.RemoveService(id); err != nil && !isMissing(err) {
				errs = append(errs, fmt.Errorf("ipvs: close: remove replaced %s: %w", serviceKey(id), err))
			}
		}
	}
	d.services = map[string]*owned{}
	if d.closer != nil {
		if err := d.closer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ipvs: close netlink: %w", err))
		}
	}
	return errors.Join(errs...)
}
