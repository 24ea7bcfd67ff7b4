package packet

import (
	"encoding/binary"
	"fmt"
)

// Marshal encodes a as the IP payload to send in env: the VRRP message,
// preceded by the AH header when env.Protocol is ProtocolAH. The checksum is
// computed (a.Checksum is ignored); the AH ICV is copied from a.AH as is,
// since computing it needs the final IP header.
func (a *Advert) Marshal(env Envelope) ([]byte, error) {
	return a.Append(nil, env)
}

// Append is Marshal appending to b, for senders that reuse a buffer. With a.HasTrailer the
// auth_hmac trailer follows the message, its HMAC copied from a.Trailer as is (AppendSigned
// computes it).
func (a *Advert) Append(b []byte, env Envelope) ([]byte, error) {
	return a.appendSigned(b, env, nil)
}

// AppendSigned is Append with an auth_hmac trailer signed with key: a.Trailer's type, key id
// and sequence are sent, its HMAC computed. The checksum is computed after the HMAC, since over
// IPv6 it covers the trailer.
func (a *Advert) AppendSigned(b []byte, env Envelope, key []byte) ([]byte, error) {
	if !a.HasTrailer {
		return b, fmt.Errorf("vrrp encode: signing an advert without a trailer")
	}
	return a.appendSigned(b, env, key)
}

func (a *Advert) appendSigned(b []byte, env Envelope, key []byte) ([]byte, error) {
	ipv6, ok := envFamily(env)
	if !ok {
		return b, fmt.Errorf("vrrp encode: source %v and destination %v are not addresses of one family", env.Src, env.Dst)
	}
	switch {
	case a.Version == 2 && ipv6:
		return b, fmt.Errorf("vrrp encode: VRRPv2 cannot be sent over IPv6 (source %v)", env.Src)
	case a.Version != 2 && a.Version != 3:
		return b, fmt.Errorf("vrrp encode: version %d, want 2 or 3", a.Version)
	case a.Version == 3 && a.Interval > 0xfff:
		return b, fmt.Errorf("vrrp encode: v3 interval %d centiseconds exceeds 4095", a.Interval)
	case a.Version == 2 && a.Interval > 0xff:
		return b, fmt.Errorf("vrrp encode: v2 interval %d seconds exceeds 255", a.Interval)
	case len(a.Addrs) > 255:
		return b, fmt.Errorf("vrrp encode: %d addresses, at most 255 fit", len(a.Addrs))
	}
	for i, addr := range a.Addrs {
		// Any 16-byte address fits an IPv6 advert, IPv4-mapped ones too.
		if addr.Is4() == ipv6 || !addr.IsValid() {
			return b, fmt.Errorf("vrrp encode: address #%d %v is not of the family of source %v", i, addr, env.Src)
		}
	}
	switch env.Protocol {
	case 0, ProtocolVRRP:
	case ProtocolAH:
		if ipv6 || a.Version != 2 {
			return b, fmt.Errorf("vrrp encode: IPsec AH needs VRRPv2 over IPv4")
		}
		b = append(b, ProtocolVRRP, AHLen/4-2, 0, 0)
		b = binary.BigEndian.AppendUint32(b, a.AH.SPI)
		b = binary.BigEndian.AppendUint32(b, a.AH.Seq)
		b = append(b, a.AH.ICV[:]...)
	default:
		return b, fmt.Errorf("vrrp encode: IP protocol %d, want %d or %d", env.Protocol, ProtocolVRRP, ProtocolAH)
	}
	start := len(b)
	b = append(b, a.Version<<4|TypeAdvert, a.VRID, a.Priority, uint8(len(a.Addrs)))
	if a.Version == 2 {
		b = append(b, uint8(a.AuthType), uint8(a.Interval))
	} else {
		b = binary.BigEndian.AppendUint16(b, a.Interval)
	}
	b = append(b, 0, 0)
	for _, addr := range a.Addrs {
		if ipv6 {
			x := addr.As16()
			b = append(b, x[:]...)
		} else {
			x := addr.As4()
			b = append(b, x[:]...)
		}
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	msgLen := len(b) - start
	if a.HasTrailer {
		if a.HasAH {
			return b, fmt.Errorf("vrrp encode: an auth_hmac trailer cannot go with IPsec AH")
		}
		b = a.Trailer.append(b)
		if key != nil {
			h := TrailerHMAC(key, a.Version, a.VRID, env.Src, b[start:])
			copy(b[len(b)-HMACLen:], h[:])
		}
	}
	// Over IPv6 the checksum covers everything after the IP header, as the kernel's
	// IPV6_CHECKSUM computes it for Keepalived; over IPv4 the VRRP message only.
	covered := b[start : start+msgLen]
	if ipv6 {
		covered = b[start:]
	}
	binary.BigEndian.PutUint16(b[start+6:], checksum(a.Version, covered, env))
	return b, nil
}
