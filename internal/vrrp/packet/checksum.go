package packet

import (
	"encoding/binary"
	"net/netip"
)

// sum adds b to the running one's-complement sum s (RFC 1071), treating b as
// a sequence of big-endian 16-bit words padded with a zero byte.
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// pseudoSum returns the sum of the IPv4 or IPv6 pseudo-header VRRPv3 uses:
// source, destination, protocol 112 and the VRRP message length.
func pseudoSum(src, dst netip.Addr, length int) uint32 {
	var s uint32
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		s = sum(s, a[:])
		s = sum(s, b[:])
	} else {
		a, b := src.As16(), dst.As16()
		s = sum(s, a[:])
		s = sum(s, b[:])
		s += uint32(length >> 16)
	}
	s += ProtocolVRRP
	s += uint32(length & 0xffff)
	return s
}

// Checksum computes the checksum of the VRRP message msg (whose checksum
// field must be zero) as the given version defines it: over the message for
// v2, over the pseudo-header and the message for v3.
func Checksum(version uint8, msg []byte, src, dst netip.Addr) uint16 {
	return checksum(version, msg, Envelope{Src: src, Dst: dst})
}

// checksum is Checksum as env asks: without the pseudo-header for VRRPv3 over IPv4 with
// ChecksumAsV2.
func checksum(version uint8, msg []byte, env Envelope) uint16 {
	var s uint32
	if version == 3 && !(env.ChecksumAsV2 && env.Src.Is4()) {
		s = pseudoSum(env.Src, env.Dst, len(msg))
	}
	return fold(sum(s, msg))
}
