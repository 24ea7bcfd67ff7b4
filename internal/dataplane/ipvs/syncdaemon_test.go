package ipvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeIPVSFamily answers the IPVS family's daemon commands as the kernel does
// (net/netfilter/ipvs/ip_vs_ctl.c): it reads each request's attributes from the raw bytes
// with the kernel's policy (so a wrong length or byte order is caught here, not taken on
// trust from the encoder under test), refuses a NEW_DAEMON without state, interface or sync
// id (EINVAL), a second daemon of one role (EEXIST), a DEL_DAEMON of a role that does not run
// (ESRCH), and dumps the running daemons for GET_DAEMON.
type fakeIPVSFamily struct {
	mu      sync.Mutex
	running map[SyncState]RunningSyncDaemon
	calls   []string
	closed  bool
}

const fakeFamilyID = 0x1d

func newFakeIPVSFamily() *fakeIPVSFamily {
	return &fakeIPVSFamily{running: map[SyncState]RunningSyncDaemon{}}
}

// rawAttrs splits a netlink attribute stream: type -> payload (padding removed).
func rawAttrs(b []byte) (map[uint16][]byte, error) {
	out := map[uint16][]byte{}
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("short attribute header: % x", b)
		}
		l, typ := binary.NativeEndian.Uint16(b[0:2]), binary.NativeEndian.Uint16(b[2:4])&^unix.NLA_F_NESTED
		if int(l) < 4 || int(l) > len(b) {
			return nil, fmt.Errorf("attribute length %d of %d bytes", l, len(b))
		}
		out[typ] = b[4:l]
		b = b[min(len(b), (int(l)+3)&^3):]
	}
	return out, nil
}

func (f *fakeIPVSFamily) Execute(m genetlink.Message, family uint16, flags netlink.HeaderFlags) ([]genetlink.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if family != fakeFamilyID || m.Header.Version != 1 {
		return nil, fmt.Errorf("family %#x version %d: %w", family, m.Header.Version, unix.EINVAL)
	}
	switch m.Header.Command {
	case ipvsCmdGetDaemon:
		if flags&netlink.Dump == 0 {
			return nil, unix.EOPNOTSUPP
		}
		var out []genetlink.Message
		for _, st := range []SyncState{SyncMaster, SyncBackup} {
			r, ok := f.running[st]
			if !ok {
				continue
			}
			ae := netlink.NewAttributeEncoder()
			ae.Nested(ipvsCmdAttrDaemon, func(n *netlink.AttributeEncoder) error {
				n.Uint32(ipvsDaemonAttrState, uint32(st))
				n.String(ipvsDaemonAttrMcastIfn, r.Interface)
				n.Uint32(ipvsDaemonAttrSyncID, r.SyncID)
				n.Uint16(ipvsDaemonAttrSyncMaxlen, r.MaxLen)
				n.Bytes(ipvsDaemonAttrMcastGroup, r.Group.AsSlice())
				n.Uint16(ipvsDaemonAttrMcastPort, r.Port)
				n.Uint8(ipvsDaemonAttrMcastTTL, r.TTL)
				return nil
			})
			data, _ := ae.Encode()
			out = append(out, genetlink.Message{Data: data})
		}
		return out, nil
	case ipvsCmdNewDaemon, ipvsCmdDelDaemon:
	default:
		return nil, unix.EOPNOTSUPP
	}
	top, err := rawAttrs(m.Data)
	if err != nil {
		return nil, err
	}
	a, err := rawAttrs(top[ipvsCmdAttrDaemon])
	if err != nil || top[ipvsCmdAttrDaemon] == nil {
		return nil, unix.EINVAL
	}
	state, ok := a[ipvsDaemonAttrState]
	if !ok || len(state) != 4 {
		return nil, unix.EINVAL
	}
	st := SyncState(binary.NativeEndian.Uint32(state))
	if m.Header.Command == ipvsCmdDelDaemon {
		f.calls = append(f.calls, "del "+st.String())
		if _, ok := f.running[st]; !ok {
			return nil, unix.ESRCH
		}
		delete(f.running, st)
		return nil, nil
	}
	ifn, id := a[ipvsDaemonAttrMcastIfn], a[ipvsDaemonAttrSyncID]
	if len(ifn) < 2 || ifn[len(ifn)-1] != 0 || len(id) != 4 {
		return nil, unix.EINVAL
	}
	// The kernel's defaults for what is not given.
	r := RunningSyncDaemon{State: st, SyncDaemon: SyncDaemon{Interface: string(ifn[:len(ifn)-1]), SyncID: binary.NativeEndian.Uint32(id),
		MaxLen: 1472, Port: 8848, TTL: 1, Group: netip.MustParseAddr("224.0.0.81")}}
	for typ, v := range a {
		switch {
		case typ == ipvsDaemonAttrSyncMaxlen && len(v) == 2:
			r.MaxLen = binary.NativeEndian.Uint16(v)
		case typ == ipvsDaemonAttrMcastPort && len(v) == 2:
			r.Port = binary.NativeEndian.Uint16(v)
		case typ == ipvsDaemonAttrMcastTTL && len(v) == 1:
			r.TTL = v[0]
		case typ == ipvsDaemonAttrMcastGroup && len(v) == 4, typ == ipvsDaemonAttrMcastGroup6 && len(v) == 16:
			r.Group, _ = netip.AddrFromSlice(v)
		case typ == ipvsDaemonAttrState || typ == ipvsDaemonAttrMcastIfn || typ == ipvsDaemonAttrSyncID:
		default:
			return nil, fmt.Errorf("attribute %d of %d bytes: %w", typ, len(v), unix.EINVAL)
		}
	}
	f.calls = append(f.calls, fmt.Sprintf("new %s %s id=%d maxlen=%d port=%d ttl=%d group=%s", st, r.Interface, r.SyncID, r.MaxLen, r.Port, r.TTL, r.Group))
	if _, ok := f.running[st]; ok {
		return nil, unix.EEXIST
	}
	f.running[st] = r
	return nil, nil
}

func (f *fakeIPVSFamily) Close() error { f.closed = true; return nil }

func (f *fakeIPVSFamily) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// The bytes of a NEW_DAEMON request as the kernel lays them out: a nested IPVS_CMD_ATTR_DAEMON
// holding the state (u32), the interface (NUL-terminated, padded), the sync id (u32), maxlen
// (u16), the group (4 bytes, network order), the port (u16) and the TTL (u8).
func TestSyncDaemonRequestBytes(t *testing.T) {
	got, err := daemonAttrs(SyncMaster, &SyncDaemon{Interface: "eth0", SyncID: 5, MaxLen: 1400, Port: 8848, TTL: 2, Group: netip.MustParseAddr("224.0.0.81")})
	if err != nil {
		t.Fatal(err)
	}
	le := func(v uint32, n int) []byte {
		b := binary.NativeEndian.AppendUint32(nil, v)
		return b[:n]
	}
	attr := func(typ uint16, payload []byte) []byte {
		b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(payload)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the expected bytes are written for a little-endian host")
	}
	inner := slices.Concat(
		attr(1, le(1, 4)),
		attr(2, []byte("eth0\x00")),
		attr(3, le(5, 4)),
		attr(4, le(1400, 2)),
		attr(5, []byte{224, 0, 0, 81}),
		attr(7, le(8848, 2)),
		attr(8, []byte{2}),
	)
	want := attr(3|unix.NLA_F_NESTED, inner)
	if !bytes.Equal(got, want) {
		t.Errorf("NEW_DAEMON attributes\n got  % x\n want % x", got, want)
	}
	stop, _ := daemonAttrs(SyncBackup, nil)
	if want := attr(3|unix.NLA_F_NESTED, attr(1, le(2, 4))); !bytes.Equal(stop, want) {
		t.Errorf("DEL_DAEMON attributes\n got  % x\n want % x", stop, want)
	}
}

// Follow does what Keepalived's VRRP process does with lvs_sync_daemon at each transition of
// its instance: master on the master, backup on the backup and in fault, none once stopped.
func TestSyncDaemonsFollowTheVRRPInstance(t *testing.T) {
	f := newFakeIPVSFamily()
	s := newSyncDaemons(f, fakeFamilyID, 1)
	cfg := SyncDaemon{Interface: "eth1", SyncID: 51, Port: 8849, TTL: 1, Group: netip.MustParseAddr("224.0.0.82")}
	steps := []struct {
		state   string
		calls   []string
		running []SyncState
	}{
		{"BACKUP", []string{"del master", "new backup eth1 id=51 maxlen=1472 port=8849 ttl=1 group=224.0.0.82"}, []SyncState{SyncBackup}},
		{"MASTER", []string{"del backup", "new master eth1 id=51 maxlen=1472 port=8849 ttl=1 group=224.0.0.82"}, []SyncState{SyncMaster}},
		{"FAULT", []string{"del master", "new backup eth1 id=51 maxlen=1472 port=8849 ttl=1 group=224.0.0.82"}, []SyncState{SyncBackup}},
		// Already the backup with these settings: nothing restarts it.
		{"BACKUP", []string{"del master"}, []SyncState{SyncBackup}},
		{"STOP", []string{"del backup", "del master"}, nil},
	}
	for _, step := range steps {
		if err := s.Follow(step.state, cfg); err != nil {
			t.Fatalf("%s: %v", step.state, err)
		}
		if got := f.take(); !slices.Equal(got, step.calls) {
			t.Errorf("%s: requests\n got  %q\n want %q", step.state, got, step.calls)
		}
		running, err := s.Running()
		if err != nil {
			t.Fatal(err)
		}
		var states []SyncState
		for _, r := range running {
			states = append(states, r.State)
			if r.Interface != "eth1" || r.SyncID != 51 || r.Port != 8849 || r.Group != cfg.Group {
				t.Errorf("%s: running %+v", step.state, r)
			}
		}
		if !slices.Equal(states, step.running) {
			t.Errorf("%s: running %v, want %v", step.state, states, step.running)
		}
	}
}

func TestSyncDaemonErrorsSayWhatFailed(t *testing.T) {
	f := newFakeIPVSFamily()
	s := newSyncDaemons(f, fakeFamilyID, 1)
	if err := s.Stop(SyncMaster); !errors.Is(err, unix.ESRCH) {
		t.Errorf("stopping a daemon that does not run: %v, want ESRCH", err)
	}
	cfg := SyncDaemon{Interface: "eth1", SyncID: 1}
	if err := s.Start(SyncMaster, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(SyncMaster, cfg); !errors.Is(err, unix.EEXIST) || err.Error() != "ipvs sync daemon: start master on eth1 (sync id 1): file exists" {
		t.Errorf("a second master: %v", err)
	}
	f.take()
	for _, bad := range []SyncDaemon{{}, {Interface: "an-interface-name-too-long"}, {Interface: "eth1", Group: netip.MustParseAddr("192.0.2.1")}} {
		if err := s.Start(SyncBackup, bad); err == nil {
			t.Errorf("Start(%+v) succeeded", bad)
		}
	}
	if got := f.take(); len(got) != 0 {
		t.Errorf("invalid settings reached the kernel: %q", got)
	}
	// A master with other settings (a reload changed lvs_sync_daemon) is started again.
	f.take()
	if err := s.Follow("MASTER", SyncDaemon{Interface: "eth1", SyncID: 2}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.take(), []string{"del backup", "new master eth1 id=2 maxlen=1472 port=8848 ttl=1 group=224.0.0.81", "del master",
		"new master eth1 id=2 maxlen=1472 port=8848 ttl=1 group=224.0.0.81"}; !slices.Equal(got, want) {
		t.Errorf("new settings: requests\n got  %q\n want %q", got, want)
	}
	if got := f.take(); len(got) != 0 {
		t.Errorf("requests sent: %q", got)
	}
}
