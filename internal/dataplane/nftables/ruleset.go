package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ruleset makes the two requests about the kernel's ruleset that google/nftables v0.3.0 cannot:
// the ruleset's generation (it has no call for NFT_MSG_GETGEN), and a table's flags (it decodes
// them in the host's byte order instead of the kernel's big endian). It has a netlink socket
// of its own.
type ruleset struct {
	conn *netlink.Conn
}

func openRuleset(netnsFD int) (*ruleset, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, err
	}
	return &ruleset{conn: c}, nil
}

func (r *ruleset) close() { r.conn.Close() }

// ask sends one nftables request and returns the attributes of the answer of type answer.
func (r *ruleset) ask(request, answer uint16, family byte, attrs []netlink.Attribute) (*netlink.AttributeDecoder, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	msgs, err := r.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | request), Flags: netlink.Request},
		// struct nfgenmsg: family, version, resource id; then the attributes.
		Data: append([]byte{family, unix.NFNETLINK_V0, 0, 0}, data...),
	})
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.Header.Type == netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|answer) && len(m.Data) >= 4 {
			ad, err := netlink.NewAttributeDecoder(m.Data[4:])
			if err != nil {
				return nil, err
			}
			ad.ByteOrder = binary.BigEndian
			return ad, nil
		}
	}
	return nil, errors.New("no answer from the kernel")
}

// generation is the ruleset's generation: a counter the kernel bumps by one on every
// transaction it commits, for any table of the network namespace (not for a transaction it
// refuses, nor for what packets add to dynamic sets). One request and one short answer.
func (r *ruleset) generation() (uint32, error) {
	ad, err := r.ask(unix.NFT_MSG_GETGEN, unix.NFT_MSG_NEWGEN, unix.AF_UNSPEC, nil)
	if err != nil {
		return 0, fmt.Errorf("nftables: read the ruleset generation: %w", err)
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID {
			return ad.Uint32(), nil
		}
	}
	return 0, fmt.Errorf("nftables: read the ruleset generation: no generation in the answer (%v)", ad.Err())
}

// Table flags (NFT_TABLE_F_DORMANT, NFT_TABLE_F_OWNER).
const (
	tableDormant = 0x1
	tableOwner   = 0x2
)

// tableFlags returns the flags of inet table name, and false when there is no such table.
func (r *ruleset) tableFlags(name string) (uint32, bool, error) {
	ad, err := r.ask(unix.NFT_MSG_GETTABLE, unix.NFT_MSG_NEWTABLE, unix.NFPROTO_INET,
		[]netlink.Attribute{{Type: unix.NFTA_TABLE_NAME, Data: []byte(name + "\x00")}})
	if errors.Is(err, unix.ENOENT) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("nftables: read table inet %s: %w", name, err)
	}
	var flags uint32
	for ad.Next() {
		if ad.Type() == unix.NFTA_TABLE_FLAGS {
			flags = ad.Uint32()
		}
	}
	return flags, true, ad.Err()
}

// nextGeneration is the generation the kernel gives the commit after the one at g: it counts
// up and skips 0 when it wraps.
func nextGeneration(g uint32) uint32 {
	if g == ^uint32(0) {
		return 1
	}
	return g + 1
}
