package userspace

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestListenerServesAVirtualAddressAddedAfterApply is a VRRP backup's case: the virtual
// address is not on the host when the service is applied, and arrives when the node becomes
// master. The service must serve at once, without another Apply.
func TestListenerServesAVirtualAddressAddedAfterApply(t *testing.T) {
	for _, tc := range []struct{ name, cidr, listen string }{
		{"IPv4", "192.0.2.10/32", "192.0.2.10:8080"},
		{"IPv6", "2001:db8::10/128", "[2001:db8::10]:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testenv.NewNamespace(t, "fb")
			hbs := startHTTPBackends(t, 1)
			b := newTestBalancer(t, Options{})
			svc := tcpService("vip", hbs)
			svc.Listen = netip.MustParseAddrPort(tc.listen)
			// The listener's socket is made in the namespace, which does not have the
			// address; the proxy's own dials leave from the test's namespace, where the
			// backend listens on loopback.
			ns.Do(t, func() { mustApply(t, b, svc) })
			if st := b.Stats()[0]; st.NotServing != "" {
				t.Fatalf("NotServing %q before the address exists; freebind should have bound it", st.NotServing)
			}
			ns.Run(t, "ip", "addr", "add", tc.cidr, "dev", "lo")
			var body string
			ns.Do(t, func() {
				c, err := net.DialTimeout("tcp", tc.listen, 2*time.Second)
				if err != nil {
					t.Fatalf("connect to the new virtual address: %v", err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(3 * time.Second))
				if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 512)
				n, _ := c.Read(buf)
				body = string(buf[:n])
			})
			if !strings.Contains(body, "backend-0") {
				t.Fatalf("answer %q, want the backend's", body)
			}
		})
	}
}

// TestReconcileRebindsAtOnce: a listener that could not bind is bound by Reconcile as soon as
// the port is free, without waiting for the backoff, and the repair is reported.
func TestReconcileRebindsAtOnce(t *testing.T) {
	hbs := startHTTPBackends(t, 1)
	b := newTestBalancer(t, Options{})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := tcpService("web", hbs)
	svc.Listen = netip.MustParseAddrPort(busy.Addr().String())
	if err := b.Apply(context.Background(), svc); err == nil {
		t.Fatal("Apply onto a busy port reported nothing")
	}
	if err := b.Apply(context.Background(), svc); !errors.Is(err, dataplane.ErrIncomplete) {
		t.Fatalf("the same Apply again while the port is busy: %v, want ErrIncomplete still", err)
	}
	if reps := b.Reconcile(context.Background()); len(reps) != 1 || reps[0].Err == nil || reps[0].Service != "web" {
		t.Fatalf("Reconcile while the port is busy: %v, want one unrepaired drift of web", reps)
	}
	busy.Close()
	reps := b.Reconcile(context.Background())
	if len(reps) != 1 || reps[0].Err != nil || !strings.Contains(reps[0].Drift, "not listening") {
		t.Fatalf("Reconcile once the port is free: %v, want one repaired drift", reps)
	}
	if _, err := oneShot(svc.Listen.String(), false); err != nil {
		t.Fatalf("after the repair: %v", err)
	}
	if reps := b.Reconcile(context.Background()); reps != nil {
		t.Fatalf("Reconcile with everything in place: %v, want nothing", reps)
	}
	if st := b.Stats()[0]; st.NotServing != "" {
		t.Errorf("NotServing %q after the repair", st.NotServing)
	}
}
