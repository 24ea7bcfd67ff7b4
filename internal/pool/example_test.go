package pool_test

import (
	"fmt"
	"time"

	"github.com/vigil-lb/vigil/internal/pool"
)

func Example() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc, _, err := pool.New(pool.ServiceSpec{
		Name:       "192.0.2.1 80",
		Quorum:     2,
		QuorumDown: "/etc/vigil/quorum_down.sh",
		Sorry:      &pool.SorrySpec{ID: "198.51.100.9:80"},
		Servers: []pool.ServerSpec{
			{ID: "192.0.2.10:80", Weight: 1, Checks: []pool.CheckSpec{{Name: "TCP_CHECK"}}, NotifyDown: "/etc/vigil/rs_down.sh"},
			{ID: "192.0.2.11:80", Weight: 1, Checks: []pool.CheckSpec{{Name: "TCP_CHECK"}}, InhibitOnFailure: true},
		},
	}, start)
	if err != nil {
		panic(err)
	}
	fmt.Println(svc.Desired().Backends)

	events, _ := svc.Observe(pool.Observation{Server: "192.0.2.10:80", Check: 0, Reason: "connect: connection refused"}, start.Add(time.Second))
	for _, e := range events {
		fmt.Printf("%s %s script=%q changes=%v\n", e.Kind, e.Server, e.Script, e.Changes)
	}
	fmt.Println(svc.Desired().Backends)
	// Output:
	// [{192.0.2.10:80 1} {192.0.2.11:80 1}]
	// server-down 192.0.2.10:80 script="/etc/vigil/rs_down.sh" changes=[{192.0.2.10:80 false 0}]
	// quorum-lost  script="/etc/vigil/quorum_down.sh" changes=[]
	// sorry-on 198.51.100.9:80 script="" changes=[{192.0.2.11:80 true 0} {198.51.100.9:80 true 1}]
	// [{192.0.2.11:80 0} {198.51.100.9:80 1}]
}
