package nftables

import (
	"context"
	"os/exec"
	"net/netip"
	"testing"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

func backends(l *lab, weights ...int) []dataplane.Backend {
	var bs []dataplane.Backend
	for i, w := range weights {
		bs = append(bs, dataplane.Backend{Addr: l.backends[i].addr, Weight: w})
	}
	return bs
}

func TestKernelNAT(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	url := "http://" + vip.String() + "/"

	t.Run("SmokeRoundRobin", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		svc := dataplane.Service{Name: "web", Protocol: dataplane.TCP, Listen: vip, Scheduler: "rr", Backends: backends(l, 1, 1, 1)}
		if err := d.Apply(ctx, svc); err != nil {
			t.Fatalf("Apply: %v\n%s", err, l.nft(t, "list", "ruleset"))
		}
		c := httpClient(l.clientWorker, false)
		for i := 0; i < 6; i++ {
			name, err := get(c, url)
			if err != nil {
				t.Fatalf("request %d: %v\n%s", i, err, l.nft(t, "list", "ruleset"))
			}
			t.Log(name)
		}
		t.Logf("%+v", d.Stats())
		for _, what := range [][]string{{"list", "chain", "inet", "vigil", "prerouting"}, {"list", "chain", "inet", "vigil", "postrouting"}, {"list", "chain", "inet", "vigil", "vs1"}, {"list", "map", "inet", "vigil", "services4"}, {"list", "map", "inet", "vigil", "vs1_slots"}, {"list", "set", "inet", "vigil", "backends4"}, {"list", "ruleset"}} {
			out, err := exec.Command("ip", append([]string{"netns", "exec", l.lb, "nft"}, what...)...).CombinedOutput()
			t.Logf("%v: %v\n%s", what, err, out)
		}
	})
	_ = netip.Addr{}
}
