package status

import (
	"strings"
	"testing"
	"time"
)

func TestBGPChangesAreCountedByPrefixOrPeerAndStateEntered(t *testing.T) {
	m := NewMetrics()
	m.SetBGPSource(func() *BGP { return nil }) // the counters do not depend on the source
	for _, c := range []BGPChange{
		{Subject: "192.0.2.10/32", VirtualServer: "web", From: BGPWithdrawn, To: BGPAnnounced, Reason: "quorum gained"},
		{Subject: "192.0.2.10/32", VirtualServer: "web", From: BGPAnnounced, To: BGPWithdrawn, Reason: "quorum lost"},
		{Subject: "192.0.2.10/32", VirtualServer: "web", From: BGPWithdrawn, To: BGPAnnounced, Reason: "quorum gained"},
		{Subject: "2001:db8::10/128", From: BGPWithdrawn, To: BGPAnnounced},
		{Session: true, Subject: "192.0.2.254", From: "IDLE", To: "ACTIVE"},
		{Session: true, Subject: "192.0.2.254", From: "ACTIVE", To: "OPENSENT"},
		{Session: true, Subject: "192.0.2.254", From: "OPENSENT", To: "OPENCONFIRM"},
		{Session: true, Subject: "192.0.2.254", From: "OPENCONFIRM", To: "ESTABLISHED"},
		{Session: true, Subject: "192.0.2.254", From: "ESTABLISHED", To: "IDLE"},
		{Session: true, Subject: "192.0.2.254", From: "IDLE", To: "ACTIVE"},
	} {
		m.ObserveBGPChange(c)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`vigil_bgp_prefix_transitions_total{prefix="192.0.2.10/32",to="announced"} 2`,
		`vigil_bgp_prefix_transitions_total{prefix="192.0.2.10/32",to="withdrawn"} 1`,
		`vigil_bgp_prefix_transitions_total{prefix="2001:db8::10/128",to="announced"} 1`,
		`vigil_bgp_prefix_transitions_total{prefix="2001:db8::10/128",to="withdrawn"} 0`,
		`vigil_bgp_session_transitions_total{peer="192.0.2.254",to="ACTIVE"} 2`,
		`vigil_bgp_session_transitions_total{peer="192.0.2.254",to="ESTABLISHED"} 1`,
		`vigil_bgp_session_transitions_total{peer="192.0.2.254",to="IDLE"} 1`,
		`vigil_bgp_session_transitions_total{peer="192.0.2.254",to="CONNECT"} 0`,
		"# TYPE vigil_bgp_prefix_transitions_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s\n%s", want, grepLines(body, "transitions_total"))
		}
	}
	if strings.Contains(body, "vigil_bgp_session_up") {
		t.Error("a source giving nil still exports session gauges")
	}
}

func TestBGPChangeMessageSaysFromToAndWhy(t *testing.T) {
	for _, tc := range []struct {
		c    BGPChange
		want string
	}{
		{BGPChange{VirtualServer: "web", From: BGPWithdrawn, To: BGPAnnounced, Reason: "quorum gained"},
			"withdrawn -> announced (web: quorum gained)"},
		{BGPChange{From: BGPAnnounced, To: BGPWithdrawn, Reason: "speaker stopped"}, "announced -> withdrawn (speaker stopped)"},
		{BGPChange{VirtualServer: "web", From: BGPAnnounced, To: BGPWithdrawn}, "announced -> withdrawn (web)"},
		{BGPChange{Session: true, From: "OPENCONFIRM", To: "ESTABLISHED"}, "OPENCONFIRM -> ESTABLISHED"},
	} {
		if got := tc.c.Message(); got != tc.want {
			t.Errorf("%+v: message %q, want %q", tc.c, got, tc.want)
		}
	}
}

// TestBGPChangeReachesTheEventStream: a BGP change is a "change" event on the SSE stream,
// which is what makes the live page refetch the state at once.
func TestBGPChangeReachesTheEventStream(t *testing.T) {
	hub := NewHub(10, time.Now)
	rd := subscribeEvents(t, hub)
	hub.PublishBGPChange(BGPChange{Subject: "192.0.2.10/32", VirtualServer: "web", From: BGPAnnounced,
		To: BGPWithdrawn, Reason: "quorum lost"})
	event, ev := nextEvent(t, rd)
	want := Event{Seq: 1, Kind: "bgp", Subject: "192.0.2.10/32", Message: "announced -> withdrawn (web: quorum lost)"}
	if event != "change" || ev.Seq != want.Seq || ev.Kind != want.Kind || ev.Subject != want.Subject || ev.Message != want.Message {
		t.Fatalf("event %q %+v, want change %+v", event, ev, want)
	}
	if recent := hub.Recent(); len(recent) != 1 || recent[0].Kind != "bgp" {
		t.Errorf("recent events %+v, want the bgp change (the page's event list)", recent)
	}
}
