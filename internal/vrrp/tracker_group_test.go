package vrrp

import (
	"fmt"
	"testing"
)

func TestSyncGroupTracksReachEveryMember(t *testing.T) {
	// Two members; the group tracks a script, a file and an interface, which Keepalived adds
	// to every member with the group's weights (cleared only when a member owns the address;
	// sync_group_tracking_weight is about the members' own weighted entries).
	conf := func(scriptWeight string) string {
		return `vrrp_script chk {
  script "/bin/true"
}
vrrp_track_file flag {
  file "/tmp/vigil-test-flag"
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  track_script {
    chk weight -10
  }
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  virtual_ipaddress {
    192.0.2.101/24
  }
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  track_script {
    chk weight ` + scriptWeight + `
  }
  track_file {
    flag
  }
  track_interface {
    eth1
  }
}
`
	}
	tracked := func(m *Manager, i int, kinds ...string) string {
		var out []string
		for _, tr := range m.specs[i].tracks {
			for _, k := range kinds {
				if tr.kind == k && !(k == "interface" && tr.name == "eth0") {
					out = append(out, fmt.Sprintf("%s:%s/%d", tr.kind, tr.name, tr.weight))
				}
			}
		}
		return fmt.Sprint(out)
	}
	m, err := NewManager(loadConf(t, conf("20")), ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// track_file's default weight is 1 (the file's number counts once).
	want := "[interface:eth1/0 script:chk/20 file:flag/1]"
	for i := range 2 {
		if got := tracked(m, i, "interface", "script", "file"); got != want {
			t.Errorf("%s tracks %s, want %s", m.specs[i].name, got, want)
		}
	}
	key := func(opts string) string {
		m, err := NewManager(loadConf(t, conf(opts)), ManagerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m.specs[1].key
	}
	if key("20") == key("30") {
		t.Error("a member's reload key ignores what its sync group tracks")
	}
}
