package nftables

import (
	"net/netip"

	nft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nativeEndian is the byte order of numgen's and jhash's results, so of the backend map's keys.
var nativeEndian = binaryutil.NativeEndian

// hashSeed is jhash's seed for sh and mh: fixed so that a client keeps its backend across
// restarts of vigil.
const hashSeed = 0x76696769 // "vigi"

// addrLayout gives, for one address family, where the addresses sit in the IP header and where
// a concatenated address . port puts the port.
type addrLayout struct {
	nfproto   byte
	saddrOff  uint32
	daddrOff  uint32
	alen      uint32
	portReg32 uint32 // 4-byte register of the port when the address is in reg1
}

func layout(v4 bool) addrLayout {
	if v4 {
		return addrLayout{nfproto: unix.NFPROTO_IPV4, saddrOff: 12, daddrOff: 16, alen: 4, portReg32: reg32_00 + 1}
	}
	return addrLayout{nfproto: unix.NFPROTO_IPV6, saddrOff: 8, daddrOff: 24, alen: 16, portReg32: reg32_00 + 4}
}

// dispatchExprs: meta nfproto FAM meta l4proto . ip daddr . th dport vmap @set.
func dispatchExprs(fam byte, set string) []expr.Any {
	return append(serviceKeyExprs(fam), &expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: set})
}

// invalidExprs: ct state invalid meta nfproto FAM meta l4proto . ip daddr . th dport @set drop.
// A packet to a virtual service that conntrack finds invalid (an ACK of a handshake whose
// SYN-ACK another node forwarded, before conntrack sync told this node of it) is dropped: it
// would otherwise skip the NAT rules and reach the local stack, which holds the virtual
// address and would reset the client's connection. Dropped, it is sent again, and by then
// the state has caught up.
func invalidExprs(fam byte, set string) []expr.Any {
	e := []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: nativeEndian.PutUint32(ctStateInvalid), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}},
	}
	e = append(e, serviceKeyExprs(fam)...)
	return append(e, &expr.Lookup{SourceRegister: reg1, SetName: set}, &expr.Verdict{Kind: expr.VerdictDrop})
}

// serviceKeyExprs: meta nfproto FAM, then meta l4proto . ip daddr . th dport in reg1, the key
// of the dispatch maps and of the listen and backend sets.
func serviceKeyExprs(fam byte) []expr.Any {
	l := layout(fam == unix.NFPROTO_IPV4)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{fam}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_00},
		&expr.Payload{DestRegister: reg32_00 + 1, Base: expr.PayloadBaseNetworkHeader, Offset: l.daddrOff, Len: l.alen},
		&expr.Payload{DestRegister: reg32_00 + 1 + l.alen/4, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// ctStateInvalid is the invalid bit of ct state.
const ctStateInvalid = 1

// markDispatchExprs: meta nfproto FAM meta l4proto . meta mark vmap @set.
func markDispatchExprs(fam byte, set string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{fam}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_00},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg32_00 + 1},
		&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: set},
	}
}

// postExprs: ct status dnat meta nfproto FAM meta l4proto . ip daddr . th dport @set
// [masquerade | snat to ADDR]. The set holds every backend of every service (the translated
// destination) with a counter per element, so the lookup counts each translated connection
// once on its backend, and only connections translated to one of vigil's backends have their
// source translated: to the node's address (masquerade), to snat when it is an address of the
// family (one every node shares, so that a connection moved to another node keeps its
// source), or not at all (src nil).
func postExprs(fam byte, set string, src *sourceNAT) []expr.Any {
	e := []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: nativeEndian.PutUint32(ipsDstNAT), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}},
	}
	e = append(e, serviceKeyExprs(fam)...)
	e = append(e, &expr.Lookup{SourceRegister: reg1, SetName: set})
	switch {
	case src == nil:
	case src.addr.IsValid() && src.addr.Is4() == (fam == unix.NFPROTO_IPV4):
		e = append(e,
			&expr.Immediate{Register: reg1, Data: src.addr.AsSlice()},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: uint32(fam), RegAddrMin: reg1})
	default:
		e = append(e, &expr.Masq{})
	}
	return e
}

// sourceNAT is what postrouting does to the source of a connection to a backend: masquerade,
// or SNAT to addr for addr's family (masquerade for the other).
type sourceNAT struct {
	addr netip.Addr
}

func refusedExprs() []expr.Any { return []expr.Any{&expr.Counter{}} }

// dnat translates to the address . port in reg1.
func dnat(l addrLayout) *expr.NAT {
	return &expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(l.nfproto), RegAddrMin: reg1, RegProtoMin: l.portReg32}
}

// family: meta nfproto FAM. It costs one comparison and lets nft list the address loads that
// follow as "ip saddr" rather than raw header offsets.
func family(l addrLayout) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{l.nfproto}},
	}
}

// knownClientExprs: ip saddr @clients goto chain.
func knownClientExprs(v4 bool, clients, chain string) []expr.Any {
	l := layout(v4)
	return append(family(l),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: l.saddrOff, Len: l.alen},
		&expr.Lookup{SourceRegister: reg1, SetName: clients},
		&expr.Verdict{Kind: expr.VerdictGoto, Chain: chain},
	)
}

// stickyDNATExprs: update @clients { ip saddr } dnat to backend.
func stickyDNATExprs(backend netip.AddrPort, clients string) []expr.Any {
	l := layout(backend.Addr().Unmap().Is4())
	return append(family(l),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: l.saddrOff, Len: l.alen},
		&expr.Dynset{SrcRegKey: reg1, SetName: clients, Operation: unix.NFT_DYNSET_OP_UPDATE},
		&expr.Immediate{Register: reg1, Data: backend.Addr().Unmap().AsSlice()},
		&expr.Immediate{Register: l.portReg32, Data: binaryutil.BigEndian.PutUint16(backend.Port())},
		dnat(l),
	)
}

// pickExprs: (numgen inc | jhash ip saddr | jhash ip saddr . th sport) mod n, then either map
// @slots into the address . port that dnat translates to, or (persistence) vmap @slots into a
// backend's sticky chain.
func pickExprs(v4 bool, sel selector, n uint32, slots string, verdict bool) []expr.Any {
	l := layout(v4)
	var e []expr.Any
	switch sel {
	case bySourceHash:
		e = append(family(l),
			&expr.Payload{DestRegister: reg3, Base: expr.PayloadBaseNetworkHeader, Offset: l.saddrOff, Len: l.alen},
			&expr.Hash{SourceRegister: reg3, DestRegister: reg1, Length: l.alen, Modulus: n, Seed: hashSeed, Type: expr.HashTypeJenkins})
	case byFlowHash:
		// The port goes in the 4-byte register after the address, zero-padded by the kernel,
		// as nft lays out "ip saddr . th sport".
		e = append(family(l),
			&expr.Payload{DestRegister: reg3, Base: expr.PayloadBaseNetworkHeader, Offset: l.saddrOff, Len: l.alen},
			&expr.Payload{DestRegister: reg32_08 + l.alen/4, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Hash{SourceRegister: reg3, DestRegister: reg1, Length: l.alen + 4, Modulus: n, Seed: hashSeed, Type: expr.HashTypeJenkins})
	default:
		e = append(e, &expr.Numgen{Register: reg1, Modulus: n, Type: unix.NFT_NG_INCREMENTAL})
	}
	if verdict {
		return append(e, &expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: slots})
	}
	return append(e,
		&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: slots},
		dnat(l))
}

func jumpTo(chain string) *expr.Verdict {
	return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}
}

// counterOf returns the packets of the rule's counter.
func counterOf(r *nft.Rule) uint64 {
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Counter); ok {
			return c.Packets
		}
	}
	return 0
}

// slotKeyType types the slot maps' keys as mark: a host-endian 32-bit integer like numgen's
// and jhash's results, and a type nft can name when it lists the map (it prints a plain
// integer key as "type 0").
var slotKeyType = nft.TypeMark
