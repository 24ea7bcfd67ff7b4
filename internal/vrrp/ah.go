package vrrp

import (
	"encoding/binary"
	"fmt"

	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"golang.org/x/net/ipv4"
)

// Keepalived's auth_type AH (VRRPv2 over IPv4 only): adverts travel as IP protocol 51 with an
// AH header in front of the VRRP message (see packet.ICV for what it covers). The instance's
// socket is then a raw socket for protocol 51, which sends with the header built here
// (IP_HDRINCL) and receives only AH packets, as Keepalived's does.

// ahSealer fills in what the AH ICV covers on the way out: a non-zero IP identification of
// the sender's choosing (the kernel would otherwise pick one after the ICV was computed), the
// protocol, and the ICV itself. It is used by the goroutine that sends.
type ahSealer struct {
	key     [packet.AuthDataLen]byte
	zeroTTL bool // unicast: the TTL is not covered, as Keepalived does
	id      uint16
}

// seal completes h and writes the ICV into b, the IP payload (AH header and VRRP message).
func (a *ahSealer) seal(h *ipv4.Header, b []byte) error {
	a.id++
	if a.id == 0 {
		a.id = 1 // 0 would let the kernel choose
	}
	h.ID = int(a.id)
	h.Protocol = packet.ProtocolAH
	h.TotalLen = h.Len + len(b)
	hdr, err := h.Marshal()
	if err != nil {
		return fmt.Errorf("IPsec AH: IPv4 header to %v: %w", h.Dst, err)
	}
	return packet.SealAH(a.key, hdr, b, a.zeroTTL)
}

// ahSealerFor returns the sealer of an instance configured with s, or nil without AH.
func ahSealerFor(s *spec) *ahSealer {
	if s.expect.AuthType != packet.AuthAH {
		return nil
	}
	return &ahSealer{key: s.ahKey, zeroTTL: s.unicast}
}

// prepareAH makes adv and env an AH advert: the SPI is the source address, the sequence
// number the instance's next.
func (in *instance) prepareAH(adv *packet.Advert, env *packet.Envelope) {
	env.Protocol = packet.ProtocolAH
	src := in.src.As4()
	adv.HasAH = true
	adv.AH = packet.AH{SPI: binary.BigEndian.Uint32(src[:]), Seq: in.ahSeq.Next()}
}

// checkAH verifies a received AH advert as Keepalived does: ICV, SPI, then the sequence
// number against the instance's counter. payload is what conn4.Read returned from buf.
func (in *instance) checkAH(buf, payload []byte, adv *packet.Advert) error {
	s := in.conf()
	if err := packet.VerifyAH(s.ahKey, headerBefore(buf, payload), payload, s.unicast); err != nil {
		return err
	}
	return in.ahSeq.Accept(adv.AH.Seq)
}

// headerBefore returns the bytes of buf in front of payload, a slice of buf: conn4.Read reads
// the whole packet into buf and returns its payload as what follows the IPv4 header.
func headerBefore(buf, payload []byte) []byte {
	off := cap(buf) - cap(payload)
	if off < 0 || off > len(buf) {
		return nil
	}
	return buf[:off]
}
