package packet

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"
)

// Keepalived's auth_type AH is not IPsec proper (there is no security
// association): it puts an AH header (RFC 2402 layout) between the IPv4 header
// and the VRRPv2 message and fills it in as follows, which is what the
// functions here reproduce.
//
//   - SPI: the sender's IPv4 source address.
//   - Sequence number: one counter per instance (see AHSeq).
//   - ICV: HMAC-MD5 truncated to 96 bits, keyed by auth_pass's first 8 bytes
//     NUL padded (as PASS sends them), over the IPv4 header with TOS, flags
//     and fragment offset and the header checksum zeroed (and the TTL too when
//     the instance is unicast), then the AH header with the ICV zeroed, then
//     the VRRP message. The IP identification is covered, so the sender must
//     choose it (non-zero) rather than leave it to the kernel.
//   - The VRRP message says authentication type 2 and carries 8 zero bytes of
//     authentication data.

// AHKey returns the HMAC key Keepalived derives from auth_pass for auth_type
// AH: the same 8 bytes as PassData (Keepalived truncates the password to 8).
func AHKey(pw string) [AuthDataLen]byte { return PassData(pw) }

// ICV computes the integrity check value of an AH-protected VRRP packet. hdr
// is the IPv4 header (options included) as sent or received; payload is the
// IP payload, starting with the AH header, whose ICV field is ignored. With
// zeroTTL the TTL is left out of the computation, as Keepalived does for
// unicast peers.
func ICV(key [AuthDataLen]byte, hdr, payload []byte, zeroTTL bool) ([ICVLen]byte, error) {
	var icv [ICVLen]byte
	if err := checkAHFrame(hdr, payload); err != nil {
		return icv, err
	}
	var h [60]byte // the longest IPv4 header
	n := copy(h[:], hdr)
	h[1] = 0            // TOS
	h[6], h[7] = 0, 0   // flags, fragment offset
	h[10], h[11] = 0, 0 // header checksum
	if zeroTTL {
		h[8] = 0
	}
	var ah [AHLen]byte
	copy(ah[:12], payload[:12])
	mac := hmac.New(md5.New, key[:])
	mac.Write(h[:n])
	mac.Write(ah[:])
	mac.Write(payload[AHLen:])
	var sum [md5.Size]byte
	copy(icv[:], mac.Sum(sum[:0]))
	return icv, nil
}

// SealAH computes the ICV of the packet made of hdr and payload (see ICV) and
// writes it into payload's AH header. hdr must be the header exactly as it
// will be sent, apart from the fields the ICV leaves out.
func SealAH(key [AuthDataLen]byte, hdr, payload []byte, zeroTTL bool) error {
	icv, err := ICV(key, hdr, payload, zeroTTL)
	if err != nil {
		return err
	}
	copy(payload[12:AHLen], icv[:])
	return nil
}

// VerifyAH checks a received AH-protected VRRP packet as Keepalived does:
// the ICV (in constant time), then the SPI against the IPv4 source address.
// Either failure is an *Error with ReasonAuthData, wrapped in a message that
// says which; a header that is not IPv4 or a payload shorter than the AH
// header is ReasonAH.
func VerifyAH(key [AuthDataLen]byte, hdr, payload []byte, zeroTTL bool) error {
	icv, err := ICV(key, hdr, payload, zeroTTL)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(icv[:], payload[12:AHLen]) != 1 {
		return fmt.Errorf("IPsec AH: HMAC-MD5-96 ICV does not verify (wrong auth_pass, or a field changed on the way): %w",
			&Error{Reason: ReasonAuthData})
	}
	src := binary.BigEndian.Uint32(hdr[12:])
	if spi := binary.BigEndian.Uint32(payload[4:]); spi != src {
		return fmt.Errorf("IPsec AH: SPI %#08x is not the source address %#08x: %w", spi, src, &Error{Reason: ReasonAuthData})
	}
	return nil
}

func checkAHFrame(hdr, payload []byte) error {
	if len(hdr) < 20 || hdr[0]>>4 != 4 || int(hdr[0]&0x0f)*4 != len(hdr) {
		var b0 int
		if len(hdr) > 0 {
			b0 = int(hdr[0])
		}
		return fmt.Errorf("IPsec AH: %d-byte IP header starting %#02x is not an IPv4 header of its own length: %w",
			len(hdr), b0, &Error{Reason: ReasonAH, Got: b0})
	}
	if len(payload) < AHLen {
		return &Error{Reason: ReasonShort, Got: len(payload), Want: AHLen + headerLen}
	}
	return nil
}

// AHSeq is an instance's AH sequence counter. As in Keepalived it is one
// counter per instance, not per peer: it numbers the adverts the instance
// sends, and is the replay floor for the adverts it receives, from any
// sender. Accepting a received number raises the counter to it, so the next
// advert sent carries a higher number than any accepted, which is how a
// restarted router (whose counter starts again at 0) catches up: it listens
// as backup first, adopts the master's number and sends above it.
//
// The zero value is ready; it is safe for concurrent use (the receive path
// accepts, the sender numbers).
type AHSeq struct {
	mu sync.Mutex
	n  uint32
}

// AHSeqMax is where the counter stops: Keepalived stops counting past
// 0xFFFFFFFD (over 136 years of one advert a second).
const AHSeqMax = 0xFFFFFFFE

// Next returns the sequence number of the next advert to send.
func (s *AHSeq) Next() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < AHSeqMax {
		s.n++
	}
	return s.n
}

// Accept raises the counter to seq if seq is above it. A number not above
// the counter was already processed (or is older than one sent or accepted):
// the packet is to be dropped, and Accept returns an *Error with
// ReasonAuthData, as Keepalived counts it as an authentication failure.
func (s *AHSeq) Accept(seq uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.n {
		return fmt.Errorf("IPsec AH: sequence number %d already processed (local counter %d): %w", seq, s.n, &Error{Reason: ReasonAuthData})
	}
	s.n = seq
	return nil
}

// Current returns the counter: the last number sent or accepted.
func (s *AHSeq) Current() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
