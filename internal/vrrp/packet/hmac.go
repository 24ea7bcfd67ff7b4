package packet

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"net/netip"
)

// Keepalived 2.4's auth_hmac (draft-cassen-vrrp-auth-hmac, as Keepalived 2.4.2 and later sign
// it) appends a 28-byte trailer to the VRRP message, VRRPv2 or v3, IPv4 or IPv6:
//
//	0      1       2-3       4-7      8-9     10-11   12-27
//	type   key id  reserved  seconds  subsec  counter HMAC-SHA256 truncated to 128 bits
//
// The sequence number is the 64 bits from seconds to counter: UTC seconds, a binary fraction
// of a second (1/65536) and a counter that breaks ties within one timestamp. The HMAC covers
// a 20-byte pseudo-header (family 4 or 6, VRRP version, VRID, a zero byte, then the sender's
// address, zero-padded to 16 bytes), the VRRP message with its checksum field read as zero,
// then the trailer's first 12 bytes and 16 zero bytes for the HMAC. The IP header is not
// covered, so the same signature serves every unicast peer.
//
// The trailer changes the VRRP checksum only where the IP layer computes it: over IPv6 the
// checksum covers the whole payload, trailer included (Keepalived leaves it to the kernel,
// IPV6_CHECKSUM); over IPv4 it covers the VRRP message alone, as before.

const (
	// TrailerLen is the length of the auth_hmac trailer.
	TrailerLen = 28
	// HMACLen is the length of the truncated HMAC the trailer carries.
	HMACLen = 16
	// TrailerTypeSHA256 is the only scheme defined: HMAC-SHA256 truncated to 128 bits.
	TrailerTypeSHA256 = 1
	// HMACKeyMin and HMACKeyMax bound an auth_hmac key's length in bytes.
	HMACKeyMin, HMACKeyMax = 32, 64

	hmacPseudoLen = 20
)

// Trailer is the auth_hmac trailer of an advertisement.
type Trailer struct {
	Type     uint8
	KeyID    uint8
	Reserved uint16
	// Seq is the 64-bit sequence: seconds << 32 | subseconds << 16 | counter.
	Seq  uint64
	HMAC [HMACLen]byte
}

// Seconds returns the trailer's timestamp in seconds (the high 32 bits of Seq).
func (t *Trailer) Seconds() uint32 { return uint32(t.Seq >> 32) }

func (t *Trailer) append(b []byte) []byte {
	b = append(b, t.Type, t.KeyID)
	b = binary.BigEndian.AppendUint16(b, t.Reserved)
	b = binary.BigEndian.AppendUint64(b, t.Seq)
	return append(b, t.HMAC[:]...)
}

func (t *Trailer) parse(b []byte) {
	t.Type, t.KeyID = b[0], b[1]
	t.Reserved = binary.BigEndian.Uint16(b[2:])
	t.Seq = binary.BigEndian.Uint64(b[4:])
	copy(t.HMAC[:], b[12:TrailerLen])
}

// TrailerHMAC computes the truncated HMAC of a signed advertisement. msg is the VRRP message
// followed by its trailer (TrailerLen bytes) as sent or received; its checksum and HMAC fields
// are read as zero, whatever they hold. src is the sender's address; vrid and version are the
// instance's (the receiver's own, so an advert spliced onto another instance does not verify).
func TrailerHMAC(key []byte, version, vrid uint8, src netip.Addr, msg []byte) [HMACLen]byte {
	var out [HMACLen]byte
	if len(msg) < headerLen+TrailerLen {
		return out
	}
	var pseudo [hmacPseudoLen]byte
	if src.Is4() {
		pseudo[0] = 4
		a := src.As4()
		copy(pseudo[4:], a[:])
	} else {
		pseudo[0] = 6
		a := src.As16()
		copy(pseudo[4:], a[:])
	}
	pseudo[1], pseudo[2] = version, vrid
	var zero [HMACLen]byte
	mac := hmac.New(sha256.New, key)
	mac.Write(pseudo[:])
	mac.Write(msg[:6])
	mac.Write(zero[:2])
	mac.Write(msg[8 : len(msg)-HMACLen])
	mac.Write(zero[:])
	sumHMAC(mac, &out)
	return out
}

func sumHMAC(mac hash.Hash, out *[HMACLen]byte) {
	var sum [sha256.Size]byte
	copy(out[:], mac.Sum(sum[:0]))
}

// VerifyTrailerHMAC reports whether msg (a VRRP message and its trailer, as received) carries
// the HMAC key gives, in constant time.
func VerifyTrailerHMAC(key []byte, version, vrid uint8, src netip.Addr, msg []byte) bool {
	if len(msg) < headerLen+TrailerLen {
		return false
	}
	want := TrailerHMAC(key, version, vrid, src, msg)
	return subtle.ConstantTimeCompare(want[:], msg[len(msg)-HMACLen:]) == 1
}
