package packet

import (
	"net/netip"
	"time"
)

// Protocol numbers and constants from RFC 3768 and RFC 5798.
const (
	ProtocolVRRP = 112 // IP protocol number of VRRP
	ProtocolAH   = 51  // IP protocol number of IPsec AH (Keepalived's auth_type AH)
	TypeAdvert   = 1   // the only VRRP message type
	HopLimit     = 255 // TTL / hop limit every VRRP packet must be sent and received with

	// PriorityStop is sent by a master that resigns or shuts down.
	PriorityStop = 0
	// PriorityOwner is the priority of the router that owns the virtual addresses.
	PriorityOwner = 255

	// AuthDataLen is the length of the VRRPv2 authentication data field.
	AuthDataLen = 8
	// AHLen is the length of the IPsec AH header Keepalived sends: 12 bytes
	// of fixed fields and a 12-byte HMAC-MD5-96 ICV.
	AHLen = 24
	// ICVLen is the length of the AH integrity check value.
	ICVLen = 12

	// NoHopLimitCheck as Envelope.HopLimit skips the TTL/hop-limit check
	// (unicast peers, or a socket that does not report it).
	NoHopLimitCheck = -1

	headerLen = 8
)

// GroupIPv4 returns 224.0.0.18, the IPv4 VRRP multicast group.
func GroupIPv4() netip.Addr { return netip.AddrFrom4([4]byte{224, 0, 0, 18}) }

// GroupIPv6 returns ff02::12, the IPv6 VRRP multicast group.
func GroupIPv6() netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
}

// AuthType is the VRRPv2 authentication type.
type AuthType uint8

// VRRPv2 authentication types (RFC 2338; RFC 3768 keeps only None).
const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1 // simple text password, Keepalived auth_type PASS
	AuthAH   AuthType = 2 // IPsec AH, Keepalived auth_type AH
)

func (t AuthType) String() string {
	switch t {
	case AuthNone:
		return "none"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return "unknown"
}

// AH is the IPsec authentication header Keepalived puts between the IPv4
// header and the VRRP message when configured with auth_type AH. Its next
// header is always 112 and its length always AHLen.
type AH struct {
	SPI uint32 // Keepalived sets the sender's IPv4 address
	Seq uint32 // anti-replay sequence number
	ICV [ICVLen]byte
}

// Envelope is what the codec needs from the IP header around a VRRP message.
type Envelope struct {
	Src, Dst netip.Addr
	// Protocol is the IPv4 protocol or IPv6 next header: ProtocolVRRP (or 0,
	// which means the same) or, for IPv4, ProtocolAH.
	Protocol uint8
	// HopLimit is the received TTL or hop limit, or NoHopLimitCheck. Encode
	// ignores it.
	HopLimit int
	// ChecksumAsV2 leaves the pseudo-header out of a VRRPv3 IPv4 checksum, as VRRPv2 does
	// (Keepalived's v3_checksum_as_v2, for Cisco and Juniper; RFC 9568 section 5.2.8 allows
	// it). Decode then accepts either form. It has no effect on IPv6 or VRRPv2.
	ChecksumAsV2 bool
}

// Advert is a decoded VRRP advertisement. Fields that exist in only one
// version are zero in the other.
type Advert struct {
	Version  uint8 // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the raw advertisement interval: seconds (0-255) in v2,
	// centiseconds (0-4095) in v3. See IntervalDuration.
	Interval uint16
	AuthType AuthType          // v2 only
	AuthData [AuthDataLen]byte // v2 only; the PASS password, NUL padded
	// Checksum is the checksum as received. Encode computes its own.
	Checksum uint16
	Addrs    []netip.Addr
	HasAH    bool // the message came (or goes) behind an IPsec AH header
	AH       AH   // valid when HasAH
	// HasTrailer says the message carries an auth_hmac trailer (hmac.go), Trailer.
	HasTrailer bool
	Trailer    Trailer
}

// IntervalDuration returns the advertisement interval as a duration.
func (a *Advert) IntervalDuration() time.Duration {
	if a.Version == 2 {
		return time.Duration(a.Interval) * time.Second
	}
	return time.Duration(a.Interval) * 10 * time.Millisecond
}

// IntervalFromDuration converts d to the raw interval field of the given
// version: whole seconds for v2, centiseconds for v3, truncated and clamped
// to what the field can hold.
func IntervalFromDuration(version uint8, d time.Duration) uint16 {
	if d < 0 {
		d = 0
	}
	if version == 2 {
		return uint16(min(d/time.Second, 255))
	}
	return uint16(min(d/(10*time.Millisecond), 0xfff))
}

// Len returns the length of the encoded VRRP message (without any AH
// header) for an advertisement of the given version carrying n addresses
// of the family of ipv6.
func Len(version uint8, n int, ipv6 bool) int {
	l := headerLen + n*addrLen(ipv6)
	if version == 2 {
		l += AuthDataLen
	}
	return l
}

func addrLen(ipv6 bool) int {
	if ipv6 {
		return 16
	}
	return 4
}
