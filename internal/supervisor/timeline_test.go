package supervisor

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
)

func TestHubObserverPutsServerStatesOnTheirTimelines(t *testing.T) {
	state := func(up bool, admin pool.AdminState) lb.Event {
		return lb.Event{VS: "web", State: &lb.State{Servers: []lb.ServerState{{ID: "a", Up: up, Admin: admin}}}}
	}
	for _, tc := range []struct {
		name   string
		events []lb.Event
		want   []string
	}{
		{"states become changes", []lb.Event{state(true, pool.AdminReady), state(false, pool.AdminReady), state(true, pool.AdminDrain)},
			[]string{"up", "down", "drain"}},
		{"a state that did not change adds nothing", []lb.Event{state(true, pool.AdminReady), state(true, pool.AdminReady)}, []string{"up"}},
		{"pool events and notes alone add nothing", []lb.Event{{VS: "web", Note: &lb.Note{Kind: lb.NoteServing, Message: "served"}}}, nil},
		{"a removed virtual server is forgotten", []lb.Event{state(true, pool.AdminReady), {VS: "web", Gone: true}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := status.NewHub(10, time.Now)
			observe := hubObserver(hub)
			for _, ev := range tc.events {
				observe(ev)
			}
			var got []string
			for _, c := range hub.Timeline("web", "a") {
				got = append(got, c.Label())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("timeline %v, want %v", got, tc.want)
			}
		})
	}
}
