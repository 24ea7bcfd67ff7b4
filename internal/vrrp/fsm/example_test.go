package fsm_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
)

// An instance's I/O loop feeds the machine events with the current time and
// carries out the actions; here the clock is fixed so the output is stable.
func ExampleMachine() {
	m, err := fsm.New(fsm.Config{
		Version:        3,
		Priority:       150,
		AdvertInterval: time.Second,
		Addr:           netip.MustParseAddr("192.0.2.10"),
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	show := func(event string, r fsm.Result) {
		fmt.Printf("%-8s %-7v next %-9v %v\n", event, r.State, r.Deadline.Sub(start), r.Actions)
	}
	r := m.Startup(start)
	show("startup", r)
	r = m.Timer(r.Deadline) // no advert heard: master down interval over
	show("timer", r)
	r = m.Advert(r.Deadline.Add(-time.Millisecond), fsm.Advert{
		Priority: 200, Src: netip.MustParseAddr("192.0.2.20"), MaxAdvertInterval: 2 * time.Second,
	})
	show("advert", r)
	// Output:
	// startup  BACKUP  next 3.414062s [remove-vips notify(BACKUP)]
	// timer    MASTER  next 4.414062s [send-advert(150) add-vips notify(MASTER)]
	// advert   BACKUP  next 11.241187s [remove-vips notify(BACKUP)]
}
