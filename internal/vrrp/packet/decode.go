package packet

import (
	"encoding/binary"
	"net/netip"
)

// Decode parses payload (the IP payload of a received VRRP packet) and
// returns the advertisement, or an *Error saying why it was refused.
func Decode(payload []byte, env Envelope) (*Advert, error) {
	a := new(Advert)
	if err := a.Unmarshal(payload, env); err != nil {
		return nil, err
	}
	return a, nil
}

// Unmarshal parses payload into a, reusing a.Addrs' storage, so a receive
// loop that keeps one Advert does not allocate. On error a is left in an
// unspecified state. It checks, in this order: the envelope's addresses (and
// that an IPv6 multicast advert comes from a link-local source), the
// AH header (protocol 51), header length, version (2 or 3; 3 over IPv6; 2
// behind AH), type, length against the address count, TTL/hop limit, and the
// checksum. Checks that need the
// instance's configuration are Expect.Check's.
func (a *Advert) Unmarshal(payload []byte, env Envelope) error {
	ipv6, ok := envFamily(env)
	if !ok {
		return fail(ReasonFamily, 0, 0)
	}
	// RFC 5798 section 5.1.2.1 (and RFC 9568, which replaces it): an IPv6 advert's source is
	// the sender's link-local address. Only multicast adverts are held to it: a unicast
	// peer may be any address (Keepalived's unicast_src_ip is often a global one, and must
	// be when no interface is configured).
	if ipv6 && env.Dst.IsMulticast() && !env.Src.IsLinkLocalUnicast() {
		return fail(ReasonSource, 0, 0)
	}
	b := payload
	a.HasAH = false
	a.AH = AH{}
	switch env.Protocol {
	case 0, ProtocolVRRP:
	case ProtocolAH:
		if ipv6 {
			return fail(ReasonAH, int(env.Protocol), 0)
		}
		if len(b) < AHLen {
			return fail(ReasonShort, len(b), AHLen+headerLen)
		}
		// Payload length counts 32-bit words minus 2 (RFC 4302).
		if b[0] != ProtocolVRRP || (int(b[1])+2)*4 != AHLen {
			return fail(ReasonAH, int(b[0]), (int(b[1])+2)*4)
		}
		a.HasAH = true
		a.AH.SPI = binary.BigEndian.Uint32(b[4:])
		a.AH.Seq = binary.BigEndian.Uint32(b[8:])
		copy(a.AH.ICV[:], b[12:AHLen])
		b = b[AHLen:]
	default:
		return fail(ReasonAH, int(env.Protocol), 0)
	}
	if len(b) < headerLen {
		return fail(ReasonShort, len(b), headerLen)
	}
	version := b[0] >> 4
	switch {
	case version != 2 && version != 3:
		return fail(ReasonVersion, int(version), 0)
	case version == 2 && ipv6:
		return fail(ReasonVersion, 2, 3)
	case version == 3 && a.HasAH:
		// AH exists in VRRPv2 only (RFC 2338's authentication type 2), hence over IPv4 only;
		// Keepalived refuses AH with VRRPv3 in its configuration and counts such a packet
		// as a version error.
		return fail(ReasonVersion, 3, 2)
	}
	if t := b[0] & 0x0f; t != TypeAdvert {
		return fail(ReasonType, int(t), TypeAdvert)
	}
	n := int(b[3])
	want := Len(version, n, ipv6)
	if len(b) < want {
		return fail(ReasonShort, len(b), want)
	}
	// Exactly one auth_hmac trailer more is a signed advert (Keepalived detects it by length
	// alone); whether the instance expects one is Expect.Check's question.
	a.HasTrailer = false
	a.Trailer = Trailer{}
	if len(b) == want+TrailerLen && !a.HasAH {
		a.HasTrailer = true
		a.Trailer.parse(b[want:])
	} else if len(b) > want {
		return fail(ReasonLong, len(b), want)
	}
	if env.HopLimit != NoHopLimitCheck && env.HopLimit != HopLimit {
		return fail(ReasonHopLimit, env.HopLimit, HopLimit)
	}
	got := binary.BigEndian.Uint16(b[6:])
	covered := b[:want] // over IPv4 a trailer is outside the checksum; over IPv6 inside
	if ipv6 {
		covered = b
	}
	s := sum(0, covered[:6])
	s = sum(s, covered[8:])
	calc := fold(s)
	if version == 3 {
		calc = fold(s + pseudoSum(env.Src, env.Dst, len(covered)))
		// v3_checksum_as_v2 accepts the checksum without the pseudo-header too.
		if calc != got && env.ChecksumAsV2 && !ipv6 {
			calc = fold(s)
		}
	}
	if calc != got {
		return fail(ReasonChecksum, int(got), int(calc))
	}

	a.Version = version
	a.VRID = b[1]
	a.Priority = b[2]
	a.Checksum = got
	a.AuthData = [AuthDataLen]byte{}
	if version == 2 {
		a.AuthType = AuthType(b[4])
		a.Interval = uint16(b[5])
		copy(a.AuthData[:], b[want-AuthDataLen:want])
	} else {
		a.AuthType = AuthNone
		a.Interval = binary.BigEndian.Uint16(b[4:]) & 0x0fff
	}
	a.Addrs = a.Addrs[:0]
	al := addrLen(ipv6)
	for i := range n {
		p := b[headerLen+i*al:]
		if ipv6 {
			a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte(p[:16])))
		} else {
			a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte(p[:4])))
		}
	}
	return nil
}

// envFamily reports whether env is IPv6, and whether its addresses are
// usable: both valid, of one family, IPv4 not written as IPv4-mapped IPv6.
func envFamily(env Envelope) (ipv6, ok bool) {
	s, d := env.Src, env.Dst
	switch {
	case s.Is4() && d.Is4():
		return false, true
	case s.Is6() && d.Is6() && !s.Is4In6() && !d.Is4In6():
		return true, true
	}
	return false, false
}
