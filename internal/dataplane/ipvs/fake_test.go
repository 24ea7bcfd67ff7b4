package ipvs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"
)

// fakeKernel answers as the kernel's IPVS does (ESRCH for a missing service, EEXIST for a
// duplicate, the service's port for DR and TUN destinations, the hashed flag on every service)
// and records every call that changes something.
type fakeKernel struct {
	mu    sync.Mutex
	svcs  map[string]*fakeService
	calls []string
	// reads counts the calls that read a service or its destinations.
	reads int
	// fail makes the first call whose text starts with a key fail with its error.
	fail map[string]error
}

type fakeService struct {
	svc   ipvs.Service
	dests []ipvs.DestinationExtended
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{svcs: map[string]*fakeService{}, fail: map[string]error{}}
}

func (f *fakeKernel) record(call string) error {
	f.calls = append(f.calls, call)
	for prefix, err := range f.fail {
		if strings.HasPrefix(call, prefix) {
			delete(f.fail, prefix)
			return err
		}
	}
	return nil
}

// take returns the calls recorded since the last take.
func (f *fakeKernel) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func svcText(s ipvs.Service) string {
	return fmt.Sprintf("%s %s flags=%#x timeout=%d mask=/%d", serviceKey(s), s.Scheduler, uint32(s.Flags), s.Timeout, s.Netmask.Bits())
}

func destText(d ipvs.Destination) string {
	s := fmt.Sprintf("%s w=%d %s", netip.AddrPortFrom(d.Address, d.Port), d.Weight, strings.ToLower(string(lbKind(d.FwdMethod))))
	if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		s += fmt.Sprintf(" x=%d y=%d", d.UpperThreshold, d.LowerThreshold) // ipvsadm's -x and -y
	}
	return s
}

func (f *fakeKernel) Service(s ipvs.Service) (ipvs.ServiceExtended, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	fs := f.svcs[serviceKey(s)]
	if fs == nil {
		return ipvs.ServiceExtended{}, fmt.Errorf("netlink receive: %w", unix.ESRCH)
	}
	out := fs.svc
	out.Flags |= ipvs.ServiceHashed
	return ipvs.ServiceExtended{Service: out}, nil
}

func (f *fakeKernel) CreateService(s ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("create-service " + svcText(s)); err != nil {
		return err
	}
	if !s.Netmask.IsValid() {
		return unix.EINVAL
	}
	if f.svcs[serviceKey(s)] != nil {
		return unix.EEXIST
	}
	f.svcs[serviceKey(s)] = &fakeService{svc: s}
	return nil
}

func (f *fakeKernel) UpdateService(s ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("update-service " + svcText(s)); err != nil {
		return err
	}
	fs := f.svcs[serviceKey(s)]
	if fs == nil {
		return unix.ESRCH
	}
	fs.svc = s
	return nil
}

func (f *fakeKernel) RemoveService(s ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("remove-service " + serviceKey(s)); err != nil {
		return err
	}
	if f.svcs[serviceKey(s)] == nil {
		return unix.ESRCH
	}
	delete(f.svcs, serviceKey(s))
	return nil
}

func (f *fakeKernel) Destinations(s ipvs.Service) ([]ipvs.DestinationExtended, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	fs := f.svcs[serviceKey(s)]
	if fs == nil {
		return nil, unix.ESRCH
	}
	return slices.Clone(fs.dests), nil
}

func (f *fakeKernel) find(s ipvs.Service, d ipvs.Destination) (*fakeService, int, error) {
	fs := f.svcs[serviceKey(s)]
	if fs == nil {
		return nil, 0, unix.ESRCH
	}
	for i, h := range fs.dests {
		if h.Address == d.Address && h.Port == d.Port {
			return fs, i, nil
		}
	}
	return fs, -1, nil
}

func (f *fakeKernel) kernelDest(s ipvs.Service, d ipvs.Destination) ipvs.Destination {
	if d.FwdMethod != ipvs.Masquerade {
		d.Port = s.Port
	}
	return d
}

func (f *fakeKernel) CreateDestination(s ipvs.Service, d ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("create-dest " + serviceKey(s) + " " + destText(d)); err != nil {
		return err
	}
	d = f.kernelDest(s, d)
	fs, i, err := f.find(s, d)
	if err != nil {
		return err
	}
	if i >= 0 {
		return unix.EEXIST
	}
	fs.dests = append(fs.dests, ipvs.DestinationExtended{Destination: d})
	return nil
}

func (f *fakeKernel) UpdateDestination(s ipvs.Service, d ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("update-dest " + serviceKey(s) + " " + destText(d)); err != nil {
		return err
	}
	d = f.kernelDest(s, d)
	fs, i, err := f.find(s, d)
	if err != nil {
		return err
	}
	if i < 0 {
		return unix.ENOENT
	}
	fs.dests[i].Destination = d
	return nil
}

func (f *fakeKernel) RemoveDestination(s ipvs.Service, d ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("remove-dest " + serviceKey(s) + " " + netip.AddrPortFrom(d.Address, d.Port).String()); err != nil {
		return err
	}
	fs, i, err := f.find(s, d)
	if err != nil {
		return err
	}
	if i < 0 {
		return unix.ENOENT
	}
	fs.dests = slices.Delete(fs.dests, i, i+1)
	return nil
}

// state is the kernel's table as text, sorted: one line per service, then one per destination.
func (f *fakeKernel) state() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, fs := range f.svcs {
		out = append(out, svcText(fs.svc))
		for _, d := range fs.dests {
			out = append(out, serviceKey(fs.svc)+" -> "+destText(d.Destination))
		}
	}
	slices.Sort(out)
	return out
}

// byHand changes the table behind vigil's back, as ipvsadm would: edit gets the services by
// serviceKey and may change, add or delete them and their destinations. Nothing is recorded as
// a call of vigil's.
func (f *fakeKernel) byHand(edit func(svcs map[string]*fakeService)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f.svcs)
}

// dest returns the index of the destination at addr ("198.51.100.1:8080") of fs, or -1.
func (fs *fakeService) dest(addr string) int {
	return slices.IndexFunc(fs.dests, func(d ipvs.DestinationExtended) bool {
		return netip.AddrPortFrom(d.Address, d.Port).String() == addr
	})
}
