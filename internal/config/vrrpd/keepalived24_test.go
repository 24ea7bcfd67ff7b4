package vrrpd_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
)

const key32 = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestAuthHMACIsReadWithKeepalivedsDefaults(t *testing.T) {
	c, ds := configtest.Parse(t, configtest.Instance(" advert_int 3\n auth_hmac {\n  key 1 "+key32+"\n  key 2 "+strings.Repeat("a", 40)+"\n  active_key 2\n }"))
	if len(ds.List) != 0 {
		t.Fatalf("diagnostics: %v", configtest.Lines(ds))
	}
	a := c.VRRPInstances[0].AuthHMAC
	if a == nil || len(a.Keys) != 2 || a.ActiveKey != 2 || a.Mode != "enforce" || a.AntiReplay != "time" {
		t.Fatalf("auth_hmac %+v", a)
	}
	if a.Keys[0].Len != 32 || a.Keys[0].Data[31] != 0x1f || a.Keys[1].Source != "ascii" || a.Keys[1].Len != 40 {
		t.Fatalf("keys %+v %+v", a.Keys[0], a.Keys[1])
	}
	// time_window defaults to max(3 x advert_int, 5).
	if a.TimeWindow != 9 {
		t.Fatalf("time_window %d, want 9", a.TimeWindow)
	}
}

func TestAuthHMACComplaintsAreKeepalivedsAtTheirLines(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte(key32+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ds := configtest.Parse(t, configtest.Instance(` authentication {
  auth_type PASS
  auth_pass x
 }
 auth_hmac {
  key 0 `+key32+`
  key 1 short
  key 2 file:`+open+`
  key 2 `+key32+`
  key 3
  active_key 300
  time_window 301
  anti_replay sometimes
  mode lax
  active_key 2
 }`))
	got := configtest.Lines(ds)
	want := []string{
		"9: (VI_1) auth_hmac key id '0' must be between 1 and 255",
		"10: (VI_1) auth_hmac key 1 length 5 not in range [32, 64]",
		"11: (VI_1) auth_hmac key file '" + open + "' is readable by group or others",
		"12: (VI_1) duplicate auth_hmac key id 2",
		"13: (VI_1) auth_hmac key needs an id and a value",
		"14: (VI_1) auth_hmac active_key '300' must be between 1 and 255",
		"15: (VI_1) auth_hmac time_window '301' must be between 1 and 300 seconds",
		"16: (VI_1) auth_hmac anti_replay 'sometimes' must be time or monotonic",
		"17: (VI_1) auth_hmac mode 'lax' must be enforce, permissive or receive-only",
		"1: (VI_1) auth_hmac cannot be combined with authentication, dropping legacy auth",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAuthHMACWithoutItsActiveKeyIsDisabled(t *testing.T) {
	c, ds := configtest.Parse(t, configtest.Instance(" auth_hmac {\n  key 1 "+key32+"\n  active_key 2\n }"))
	if got := configtest.Lines(ds); !slices.Equal(got, []string{"1: (VI_1) auth_hmac active_key 2 is not defined, disabling extension"}) {
		t.Fatalf("%v", got)
	}
	if c.VRRPInstances[0].AuthHMAC != nil {
		t.Fatal("auth_hmac kept")
	}
}

func TestStrictModeRequiresAuthHMACEnforce(t *testing.T) {
	c, ds := configtest.Parse(t, configtest.Instance(" strict_mode\n auth_hmac {\n  key 1 "+key32+"\n  active_key 1\n  mode permissive\n }"))
	if !slices.Contains(configtest.Lines(ds), "1: (VI_1) strict mode requires auth_hmac mode enforce") || c.VRRPInstances[0].AuthHMAC.Mode != "enforce" {
		t.Fatalf("%v %+v", configtest.Lines(ds), c.VRRPInstances[0].AuthHMAC)
	}
}

func TestV3ChecksumAsV2GlobalAndPerInstance(t *testing.T) {
	c, ds := configtest.Parse(t, "global_defs {\n v3_checksum_as_v2\n}\n"+configtest.Instance("")+
		strings.NewReplacer("VI_1", "VI_2", "id 51", "id 52").Replace(configtest.Instance(" v3_checksum_as_v2 false"))+
		strings.NewReplacer("VI_1", "VI_3", "id 51", "id 53").Replace(configtest.Instance(" v3_checksum_as_v2 maybe")))
	if got := configtest.Lines(ds); !slices.Equal(got, []string{"23: (VI_3) invalid v3_checksum_as_v2 maybe specified"}) {
		t.Fatalf("%v", got)
	}
	if !c.VRRPInstances[0].V3ChecksumAsV2 || c.VRRPInstances[1].V3ChecksumAsV2 || !c.VRRPInstances[2].V3ChecksumAsV2 {
		t.Fatalf("as v2: %v %v %v", c.VRRPInstances[0].V3ChecksumAsV2, c.VRRPInstances[1].V3ChecksumAsV2, c.VRRPInstances[2].V3ChecksumAsV2)
	}
}

// Keepalived 2.2.7 on this text (the neighbor is another host's conditional line): "(Line 4)
// Configuration error: BFD instance B1 has no neighbor address set, disabling instance".
func TestBFDInstanceWithoutNeighborIsDisabledWithKeepalivedsWarning(t *testing.T) {
	_, ds := configtest.Parse(t, "bfd_instance B1 {\n  @other neighbor_ip 192.0.2.9\n  min_rx 100\n}\nbfd_instance B2 {\n  neighbor_ip 192.0.2.9\n}\n")
	want := []string{
		"1: vigil does not support bfd_instance: vigil has no BFD; track the peer with a vrrp_script or track_interface",
		"4: Configuration error: BFD instance B1 has no neighbor address set, disabling instance",
		"5: vigil does not support bfd_instance: vigil has no BFD; track the peer with a vrrp_script or track_interface",
	}
	if got := configtest.Lines(ds); !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
}

// Keepalived 2.3.2 reads a vrrp_script's interval and timeout to the millisecond.
func TestVRRPScriptIntervalAndTimeoutInMilliseconds(t *testing.T) {
	c, ds := configtest.Parse(t, "vrrp_script chk {\n  script /bin/true\n  interval 0.25\n  timeout 1.5004\n}\nvrrp_script zero {\n  script /bin/true\n  interval 0.0004\n  timeout 4295\n}\n")
	want := []string{
		"8: (zero): vrrp script interval must be greater than 0, setting to 1",
		"9: number '4295' outside range [0.000000, 4294.000000]",
		"9: (zero): vrrp script timeout '4295' invalid - ignoring",
	}
	if got := configtest.Lines(ds); !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	s := c.VRRPScripts[0]
	if s.Interval.D() != 250*time.Millisecond || s.Timeout.D() != 1500*time.Millisecond {
		t.Fatalf("interval %v timeout %v", s.Interval.D(), s.Timeout.D())
	}
	if z := c.VRRPScripts[1]; z.Interval.D() != time.Second {
		t.Fatalf("interval %v", z.Interval.D())
	}
}

func TestUseVMACOptionsAsKeepalived24ReadsThem(t *testing.T) {
	c, ds := configtest.Parse(t, configtest.Instance(" use_vmac name group 02:aa:bb:cc:dd group 42 netlink_notify_msg"))
	want := []string{"4: vigil does not support use_vmac netlink_notify_msg: vigil hears its VMACs from netlink; no other listener is nudged"}
	if got := configtest.Lines(ds); !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	v := c.VRRPInstances[0]
	if v.VMACName != "group" || v.VMACGroup == nil || *v.VMACGroup != 42 || v.VMACHardwareAddr().String() != "02:aa:bb:cc:dd:33" {
		t.Fatalf("name %q group %v mac %v", v.VMACName, v.VMACGroup, v.VMACHardwareAddr())
	}
	_, ds = configtest.Parse(t, configtest.Instance(" use_vmac vx 01:00:00:00:00:01 zz:zz group staff"))
	want = []string{
		"4: VMAC MAC address is multicast 01:00:00:00:00:01 - ignoring",
		"4: VMAC invalid MAC address zz:zz - ignored",
		"4: VMAC group staff not found",
	}
	if got := configtest.Lines(ds); !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
}

// owner_ignore_adverts (Keepalived 2.3.3): for an address owner only; strict mode wants it.
func TestOwnerIgnoreAdvertsAsKeepalivedSetsIt(t *testing.T) {
	c, ds := configtest.Parse(t, "global_defs {\n vrrp_owner_ignore_adverts\n}\n"+
		configtest.Instance(" priority 255")+
		strings.NewReplacer("VI_1", "VI_2", "id 51", "id 52").Replace(configtest.Instance(" priority 100\n owner_ignore_adverts"))+
		strings.NewReplacer("VI_1", "VI_3", "id 51", "id 53").Replace(configtest.Instance(" priority 255\n strict_mode\n owner_ignore_adverts false")))
	want := []string{
		"12: (VI_2) ignoring owner_ignore_adverts since priority is not 255",
		"21: (VI_3) strict_mode with priority 255 requires owner_ignore_adverts",
	}
	if got := configtest.Lines(ds); !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	if v := c.VRRPInstances; !v[0].OwnerIgnoreAdverts || v[1].OwnerIgnoreAdverts || !v[2].OwnerIgnoreAdverts {
		t.Fatalf("%v %v %v", v[0].OwnerIgnoreAdverts, v[1].OwnerIgnoreAdverts, v[2].OwnerIgnoreAdverts)
	}
}
