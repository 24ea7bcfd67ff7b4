package ipvs

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestNewSaysTheKernelHasNoIPVS runs on kernels without the ip_vs module (TestRealIPVS runs on
// the others).
func TestNewSaysTheKernelHasNoIPVS(t *testing.T) {
	avail := Available()
	if avail == nil {
		t.Skip("this kernel has IPVS; TestRealIPVS covers it")
	}
	if !errors.Is(avail, os.ErrNotExist) {
		t.Skipf("IPVS is unusable here for another reason than its absence: %v", avail)
	}
	d, err := New(nil, Options{})
	if err == nil {
		d.Close()
		t.Fatal("New succeeded on a kernel without IPVS")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New error %v: errors.Is(err, os.ErrNotExist) is false", err)
	}
	for _, want := range []string{"the kernel has no IPVS", "modprobe ip_vs", "nftables or userspace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q does not say %q", err, want)
		}
	}
	if !strings.Contains(avail.Error(), "the kernel has no IPVS") {
		t.Errorf("Available error %q does not say the kernel has no IPVS", avail)
	}
}

// TestRealIPVS programs the kernel's IPVS in a network namespace of its own and reads the
// table back through a second netlink socket. It needs root and a kernel with ip_vs (modprobe
// ip_vs); see doc.go.
func TestRealIPVS(t *testing.T) {
	testenv.RequireRoot(t)
	if err := Available(); err != nil {
		t.Skipf("no usable IPVS: %v", err)
	}
	ns := testenv.NewNamespace(t, "ipvs")
	var (
		d     *Dataplane
		probe ipvs.Client
		err   error
	)
	ns.Do(t, func() {
		if d, err = New(nil, Options{}); err != nil {
			return
		}
		probe, err = ipvs.New()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, ok := probe.(io.Closer); ok {
			c.Close()
		}
	})
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close()
		}
	})
	ctx := context.Background()
	svc := dataplane.Service{
		Name: "real", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "wrr",
		Backends: []dataplane.Backend{be("198.51.100.1:8080", 1), be("198.51.100.2:8080", 2)},
	}
	// read returns the kernel's destinations of the service as "addr w=N", sorted.
	read := func() (ipvs.ServiceExtended, []string) {
		t.Helper()
		k, err := probe.Service(identity(svc))
		if err != nil {
			t.Fatalf("read service back: %v", err)
		}
		ds, err := probe.Destinations(identity(svc))
		if err != nil {
			t.Fatalf("read destinations back: %v", err)
		}
		var out []string
		for _, dst := range ds {
			out = append(out, destText(dst.Destination))
		}
		slices.Sort(out)
		return k, out
	}

	if err := d.Apply(ctx, svc); err != nil {
		t.Fatal(err)
	}
	k, dests := read()
	if k.Scheduler != "wrr" || !slices.Equal(dests, []string{"198.51.100.1:8080 w=1 nat", "198.51.100.2:8080 w=2 nat"}) {
		t.Errorf("after create: scheduler %s destinations %q", k.Scheduler, dests)
	}

	// Persistence, a weight of 0 and a removal in one Apply.
	svc.Scheduler = "sh"
	svc.HashPort = true
	svc.Persistence = 300 * time.Second
	svc.PersistenceGranularity = 24
	svc.Backends = []dataplane.Backend{be("198.51.100.1:8080", 0), be("198.51.100.3:8080", 5)}
	if err := d.Apply(ctx, svc); err != nil {
		t.Fatal(err)
	}
	k, dests = read()
	if k.Scheduler != "sh" || k.Flags&ipvs.ServicePersistent == 0 || k.Flags&ipvs.ServiceSchedulerOpt2 == 0 ||
		k.Timeout != 300 || k.Netmask.Bits() != 24 {
		t.Errorf("after update: service %+v", k.Service)
	}
	if want := []string{"198.51.100.1:8080 w=0 nat", "198.51.100.3:8080 w=5 nat"}; !slices.Equal(dests, want) {
		t.Errorf("after update: destinations %q, want %q", dests, want)
	}
	// What the kernel reports back must compare equal to what vigil sent, or every Apply
	// would update the service again.
	if !sameVirtual(k.Service, virtual(svc)) {
		t.Errorf("kernel service %+v does not compare equal to the wanted %+v", k.Service, virtual(svc))
	}
	counter := &countingClient{client: d.c}
	d.c = counter
	if err := d.Apply(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if counter.changes != 0 {
		t.Errorf("re-applying the same state made %d changes to the kernel, want 0", counter.changes)
	}

	if st := d.Stats(); len(st) != 1 || len(st[0].Backends) != 2 {
		t.Errorf("stats %+v", st)
	}

	// Changes behind vigil's back (what ipvsadm -E and ipvsadm -d do), then Reconcile.
	d.c = counter.client
	changed := virtual(svc)
	changed.Scheduler = "rr"
	if err := probe.UpdateService(changed); err != nil {
		t.Fatalf("change the scheduler by hand: %v", err)
	}
	if err := probe.RemoveDestination(identity(svc), ipvs.Destination{Address: netip.MustParseAddr("198.51.100.3"), Port: 8080}); err != nil {
		t.Fatalf("delete a destination by hand: %v", err)
	}
	repairs := d.Reconcile(ctx)
	if len(repairs) != 2 || repairs[0].Err != nil || repairs[1].Err != nil {
		t.Errorf("Reconcile after two changes by hand: %q, want two repaired drifts", repairs)
	}
	k, dests = read()
	if k.Scheduler != "sh" || !slices.Equal(dests, []string{"198.51.100.1:8080 w=0 nat", "198.51.100.3:8080 w=5 nat"}) {
		t.Errorf("after Reconcile: scheduler %s destinations %q", k.Scheduler, dests)
	}
	if again := d.Reconcile(ctx); again != nil {
		t.Errorf("second Reconcile: %q, want nothing", again)
	}
	closed = true
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Service(identity(svc)); !isMissing(err) {
		t.Errorf("after close the service is still there (or the read failed: %v)", err)
	}
}

// countingClient counts the calls that change the kernel's table.
type countingClient struct {
	client
	changes int
}

func (c *countingClient) CreateService(s ipvs.Service) error {
	c.changes++
	return c.client.CreateService(s)
}
func (c *countingClient) UpdateService(s ipvs.Service) error {
	c.changes++
	return c.client.UpdateService(s)
}
func (c *countingClient) RemoveService(s ipvs.Service) error {
	c.changes++
	return c.client.RemoveService(s)
}
func (c *countingClient) CreateDestination(s ipvs.Service, d ipvs.Destination) error {
	c.changes++
	return c.client.CreateDestination(s, d)
}
func (c *countingClient) UpdateDestination(s ipvs.Service, d ipvs.Destination) error {
	c.changes++
	return c.client.UpdateDestination(s, d)
}
func (c *countingClient) RemoveDestination(s ipvs.Service, d ipvs.Destination) error {
	c.changes++
	return c.client.RemoveDestination(s, d)
}
