package vrrp

import (
	"strings"
	"testing"
)

// A reload restarts an instance only when it becomes another virtual router; every other
// change is applied in place, and an unchanged instance is left alone.
func TestReloadRestartsOnlyOnAnIdentityChange(t *testing.T) {
	base := vrrpConf("a", 3, 150, "1", "192.0.2.100/24", "")
	tests := []struct {
		name string
		from string // replaced in base; empty: base unchanged
		to   string
		want reloadAction
	}{
		{"unchanged", "", "", reloadKeep},
		{"priority", "priority 150", "priority 160", reloadUpdate},
		{"advert_int", "advert_int 1", "advert_int 0.5", reloadUpdate},
		{"added address", "192.0.2.100/24", "192.0.2.100/24\n    192.0.2.101/24", reloadUpdate},
		{"nopreempt", "state BACKUP", "state BACKUP\n  nopreempt", reloadUpdate},
		{"interface", "interface eth0", "interface eth1", reloadRestart},
		{"vrid", "virtual_router_id 51", "virtual_router_id 52", reloadRestart},
		{"version", "version 3", "version 2\n  authentication {\n    auth_type PASS\n    auth_pass x\n  }", reloadRestart},
		{"unicast mode", "state BACKUP", "state BACKUP\n  unicast_peer {\n    192.0.2.2\n  }", reloadRestart},
		{"source address", "state BACKUP", "state BACKUP\n  mcast_src_ip 192.0.2.1", reloadRestart},
		{"use_vmac on", "state BACKUP", "state BACKUP\n  use_vmac", reloadRestart},
		{"use_vmac named", "state BACKUP", "state BACKUP\n  use_vmac vrrp.x", reloadRestart},
	}
	oldCfg := loadConf(t, base)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := base
			if tc.from != "" {
				if !strings.Contains(base, tc.from) {
					t.Fatalf("%q not in the base configuration", tc.from)
				}
				text = strings.Replace(base, tc.from, tc.to, 1)
			}
			newCfg := loadConf(t, text)
			o, err := newSpec(oldCfg, oldCfg.VRRPInstances[0])
			if err != nil {
				t.Fatal(err)
			}
			s, err := newSpec(newCfg, newCfg.VRRPInstances[0])
			if err != nil {
				t.Fatal(err)
			}
			if got := reloadActionFor(o, s); got != tc.want {
				t.Errorf("reload action %v, want %v", got, tc.want)
			}
		})
	}
}

// The same for unicast instances: the peers change in place, the source address does not.
func TestReloadOfAUnicastInstance(t *testing.T) {
	uni := func(src, peer string) string {
		return vrrpConf("a", 3, 150, "1", "192.0.2.100/24", "unicast_src_ip "+src+"\n  unicast_peer {\n    "+peer+"\n  }")
	}
	old := loadConf(t, uni("192.0.2.1", "192.0.2.2"))
	o, err := newSpec(old, old.VRRPInstances[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		conf string
		want reloadAction
	}{
		{"another peer", uni("192.0.2.1", "192.0.2.3"), reloadUpdate},
		{"another source", uni("192.0.2.5", "192.0.2.2"), reloadRestart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadConf(t, tc.conf)
			s, err := newSpec(c, c.VRRPInstances[0])
			if err != nil {
				t.Fatal(err)
			}
			if got := reloadActionFor(o, s); got != tc.want {
				t.Errorf("reload action %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReloadToOrFromAHRestarts(t *testing.T) {
	pass := vrrpConf("a", 2, 150, "1", "192.0.2.100/24", "")
	ah := strings.Replace(pass, "auth_type PASS", "auth_type AH", 1)
	if ah == pass {
		t.Fatal("no auth_type PASS in the version 2 configuration")
	}
	spec := func(text string) *spec {
		c := loadConf(t, text)
		s, err := newSpec(c, c.VRRPInstances[0])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// AH adverts are IP protocol 51: another socket, so a restart, not an update.
	if got := reloadActionFor(spec(pass), spec(ah)); got != reloadRestart {
		t.Errorf("PASS to AH: %v, want restart", got)
	}
	if got := reloadActionFor(spec(ah), spec(pass)); got != reloadRestart {
		t.Errorf("AH to PASS: %v, want restart", got)
	}
}
