package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The kernel's IPVS sync daemon (Keepalived's lvs_sync_daemon): the master sends the state of
// every IPVS connection it balances to a multicast group on an interface, the backup builds
// the same connections from what it hears, so that a backup taking the virtual addresses over
// sends each established connection's packets on to the same real server. cloudflare/ipvs has
// no call for it, so SyncDaemons speaks the IPVS generic netlink family itself.

// The IPVS generic netlink family's commands and attributes for the sync daemon
// (include/uapi/linux/ip_vs.h).
const (
	ipvsCmdNewDaemon = 9
	ipvsCmdDelDaemon = 10
	ipvsCmdGetDaemon = 11

	ipvsCmdAttrDaemon = 3 // nested daemon attributes

	ipvsDaemonAttrState       = 1 // u32: master or backup
	ipvsDaemonAttrMcastIfn    = 2 // NUL-terminated interface name
	ipvsDaemonAttrSyncID      = 3 // u32
	ipvsDaemonAttrSyncMaxlen  = 4 // u16: UDP payload size (Linux 4.3)
	ipvsDaemonAttrMcastGroup  = 5 // IPv4 group, network order
	ipvsDaemonAttrMcastGroup6 = 6 // IPv6 group, 16 bytes
	ipvsDaemonAttrMcastPort   = 7 // u16
	ipvsDaemonAttrMcastTTL    = 8 // u8
)

// SyncState is the role of an IPVS sync daemon (IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP).
type SyncState uint32

// The sync daemon's roles.
const (
	SyncMaster SyncState = 1
	SyncBackup SyncState = 2
)

func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("state %d", uint32(s))
}

// SyncDaemon is how a sync daemon runs: lvs_sync_daemon's interface and options. The zero
// MaxLen, Port, TTL and Group leave the kernel's defaults (the interface's MTU, port 8848,
// TTL 1, group 224.0.0.81).
type SyncDaemon struct {
	Interface string
	SyncID    uint32
	MaxLen    uint16
	Port      uint16
	TTL       uint8
	Group     netip.Addr
}

// RunningSyncDaemon is a sync daemon the kernel runs.
type RunningSyncDaemon struct {
	State SyncState
	SyncDaemon
}

// genlConn is the part of a generic netlink connection SyncDaemons uses (a fake in tests).
type genlConn interface {
	Execute(m genetlink.Message, family uint16, flags netlink.HeaderFlags) ([]genetlink.Message, error)
	Close() error
}

// SyncDaemons starts and stops the kernel's IPVS sync daemons in the caller's network
// namespace. Methods are safe for concurrent use.
type SyncDaemons struct {
	mu      sync.Mutex
	conn    genlConn
	family  uint16
	version uint8
}

// OpenSyncDaemons connects to the kernel's IPVS generic netlink family. When the kernel has
// no IPVS the error says so and errors.Is(err, os.ErrNotExist) holds.
func OpenSyncDaemons() (*SyncDaemons, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("ipvs sync daemon: open generic netlink: %w", err)
	}
	f, err := c.GetFamily("IPVS")
	if err != nil {
		c.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ipvs sync daemon: %s: %w", errNoIPVS, err)
		}
		return nil, fmt.Errorf("ipvs sync daemon: find the IPVS family: %w", err)
	}
	return newSyncDaemons(c, f.ID, f.Version), nil
}

func newSyncDaemons(c genlConn, family uint16, version uint8) *SyncDaemons {
	return &SyncDaemons{conn: c, family: family, version: version}
}

// Close releases the netlink socket; the daemons keep running.
func (s *SyncDaemons) Close() error { return s.conn.Close() }

// Start starts the sync daemon of role st with d (IPVS_CMD_NEW_DAEMON). The kernel refuses
// (EEXIST) when that role's daemon already runs.
func (s *SyncDaemons) Start(st SyncState, d SyncDaemon) error {
	data, err := daemonAttrs(st, &d)
	if err != nil {
		return fmt.Errorf("ipvs sync daemon: start %s on %s: %w", st, d.Interface, err)
	}
	if _, err := s.exec(ipvsCmdNewDaemon, data, netlink.Request|netlink.Acknowledge); err != nil {
		return fmt.Errorf("ipvs sync daemon: start %s on %s (sync id %d): %w", st, d.Interface, d.SyncID, err)
	}
	return nil
}

// Stop stops the sync daemon of role st (IPVS_CMD_DEL_DAEMON). The kernel answers ESRCH when
// none runs.
func (s *SyncDaemons) Stop(st SyncState) error {
	data, err := daemonAttrs(st, nil)
	if err != nil {
		return fmt.Errorf("ipvs sync daemon: stop %s: %w", st, err)
	}
	if _, err := s.exec(ipvsCmdDelDaemon, data, netlink.Request|netlink.Acknowledge); err != nil {
		return fmt.Errorf("ipvs sync daemon: stop %s: %w", st, err)
	}
	return nil
}

// Running lists the sync daemons the kernel runs (IPVS_CMD_GET_DAEMON).
func (s *SyncDaemons) Running() ([]RunningSyncDaemon, error) {
	msgs, err := s.exec(ipvsCmdGetDaemon, nil, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("ipvs sync daemon: list: %w", err)
	}
	var out []RunningSyncDaemon
	for _, m := range msgs {
		r, ok, err := parseDaemon(m.Data)
		if err != nil {
			return nil, fmt.Errorf("ipvs sync daemon: list: %w", err)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// Follow puts the daemons where Keepalived puts them for a VRRP state: a MASTER runs the
// master daemon (its backup stopped first, as the two share the interface's port), BACKUP and
// FAULT run the backup daemon, anything else (STOP, INIT) runs none. Stopping a daemon that
// does not run is not an error.
func (s *SyncDaemons) Follow(vrrpState string, d SyncDaemon) error {
	var want []SyncState
	switch vrrpState {
	case "MASTER":
		want = []SyncState{SyncMaster}
	case "BACKUP", "FAULT":
		want = []SyncState{SyncBackup}
	}
	var errs []error
	for _, st := range []SyncState{SyncBackup, SyncMaster} {
		if len(want) > 0 && want[0] == st {
			continue
		}
		if err := s.Stop(st); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err)
		}
	}
	running, _ := s.Running() // a failed list only costs a restart below
	for _, st := range want {
		if slices.ContainsFunc(running, func(r RunningSyncDaemon) bool { return r.State == st && r.runs(d) }) {
			continue
		}
		err := s.Start(st, d)
		if errors.Is(err, unix.EEXIST) {
			// Running already, perhaps with other settings (a reload): start it again.
			if err = s.Stop(st); err == nil {
				err = s.Start(st, d)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runs reports whether a running daemon has the settings d asks for (those d leaves to the
// kernel's defaults match any).
func (r RunningSyncDaemon) runs(d SyncDaemon) bool {
	return r.Interface == d.Interface && r.SyncID == d.SyncID && (d.MaxLen == 0 || r.MaxLen == d.MaxLen) &&
		(d.Port == 0 || r.Port == d.Port) && (d.TTL == 0 || r.TTL == d.TTL) && (!d.Group.IsValid() || r.Group == d.Group)
}

func (s *SyncDaemons) exec(cmd uint8, data []byte, flags netlink.HeaderFlags) ([]genetlink.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Execute(genetlink.Message{Header: genetlink.Header{Command: cmd, Version: s.version}, Data: data}, s.family, flags)
}

// daemonAttrs encodes IPVS_CMD_ATTR_DAEMON: the state alone to stop a daemon (d nil), with
// the interface, sync id and the options that are set to start one.
func daemonAttrs(st SyncState, d *SyncDaemon) ([]byte, error) {
	if d != nil {
		if d.Interface == "" || len(d.Interface) >= unix.IFNAMSIZ {
			return nil, fmt.Errorf("interface name %q: expected 1 to %d characters", d.Interface, unix.IFNAMSIZ-1)
		}
		if d.Group.IsValid() && !d.Group.IsMulticast() {
			return nil, fmt.Errorf("group %s is not a multicast address", d.Group)
		}
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(ipvsCmdAttrDaemon, func(n *netlink.AttributeEncoder) error {
		n.Uint32(ipvsDaemonAttrState, uint32(st))
		if d == nil {
			return nil
		}
		n.String(ipvsDaemonAttrMcastIfn, d.Interface)
		n.Uint32(ipvsDaemonAttrSyncID, d.SyncID)
		if d.MaxLen != 0 {
			n.Uint16(ipvsDaemonAttrSyncMaxlen, d.MaxLen)
		}
		switch {
		case d.Group.Is4():
			n.Bytes(ipvsDaemonAttrMcastGroup, d.Group.AsSlice())
		case d.Group.Is6():
			n.Bytes(ipvsDaemonAttrMcastGroup6, d.Group.AsSlice())
		}
		if d.Port != 0 {
			n.Uint16(ipvsDaemonAttrMcastPort, d.Port)
		}
		if d.TTL != 0 {
			n.Uint8(ipvsDaemonAttrMcastTTL, d.TTL)
		}
		return nil
	})
	return ae.Encode()
}

// parseDaemon decodes one IPVS_CMD_ATTR_DAEMON; ok is false for a message without one.
func parseDaemon(data []byte) (r RunningSyncDaemon, ok bool, err error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return r, false, err
	}
	for ad.Next() {
		if ad.Type() != ipvsCmdAttrDaemon {
			continue
		}
		ok = true
		ad.Nested(func(n *netlink.AttributeDecoder) error {
			for n.Next() {
				switch n.Type() {
				case ipvsDaemonAttrState:
					r.State = SyncState(n.Uint32())
				case ipvsDaemonAttrMcastIfn:
					r.Interface = strings.TrimRight(n.String(), "\x00")
				case ipvsDaemonAttrSyncID:
					r.SyncID = n.Uint32()
				case ipvsDaemonAttrSyncMaxlen:
					r.MaxLen = n.Uint16()
				case ipvsDaemonAttrMcastGroup, ipvsDaemonAttrMcastGroup6:
					r.Group, _ = netip.AddrFromSlice(n.Bytes())
				case ipvsDaemonAttrMcastPort:
					r.Port = n.Uint16()
				case ipvsDaemonAttrMcastTTL:
					r.TTL = n.Uint8()
				}
			}
			return nil
		})
	}
	return r, ok, ad.Err()
}
