package packet

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

// The auth_hmac vectors are the two wire images of Keepalived 2.4.3's test/auth_hmac_test.c,
// which says they are the appendix images of draft-cassen-vrrp-auth-hmac: key 00..1f, VRID 51,
// priority 200, interval 1 s, sequence 0x6800000080000000, key id 1. IPv4: source
// 198.51.100.10, VIP 192.0.2.100, checksum without the pseudo-header. IPv6: source fe80::10,
// VIP fe80::100, checksum for destination fe80::20 over message and trailer.
//
// The test recomputes each HMAC with crypto/hmac over bytes built here by hand from the
// draft's description (the pseudo-header, the message with its checksum zeroed, the trailer
// with its HMAC zeroed), independently of TrailerHMAC, and each checksum the same way; then
// checks that the codec decodes the images, verifies them, and reproduces them byte for byte.
var (
	hmacVectorKey = func() []byte {
		k := make([]byte, 32)
		for i := range k {
			k[i] = byte(i)
		}
		return k
	}()
	hmacVector4 = "3133c80100644402c0000264" + "010100006800000080000000" + "1b84bc4e8e43892dc6d98448f8ee2265"
	hmacVector6 = "3133c8010064a2e9" + "fe800000000000000000000000000100" +
		"010100006800000080000000" + "c8c56146ebfd66ee10ec4d8186461b78"
)

type hmacVector struct {
	name     string
	image    string
	src, dst netip.Addr
	vip      netip.Addr
	asV2     bool
}

func hmacVectors() []hmacVector {
	return []hmacVector{
		{"ipv4", hmacVector4, netip.MustParseAddr("198.51.100.10"), GroupIPv4(), netip.MustParseAddr("192.0.2.100"), true},
		{"ipv6", hmacVector6, netip.MustParseAddr("fe80::10"), netip.MustParseAddr("fe80::20"), netip.MustParseAddr("fe80::100"), false},
	}
}

// byHand computes the truncated HMAC of image as the draft describes it, with no help from the
// code under test.
func byHand(t *testing.T, image []byte, src netip.Addr) []byte {
	t.Helper()
	pseudo := make([]byte, 20)
	pseudo[0] = 4
	if src.Is6() {
		pseudo[0] = 6
	}
	pseudo[1], pseudo[2] = 3, 51 // version 3, VRID 51
	copy(pseudo[4:], src.AsSlice())
	in := append([]byte{}, pseudo...)
	msg := append([]byte{}, image...)
	msg[6], msg[7] = 0, 0 // the checksum, read as zero
	for i := len(msg) - 16; i < len(msg); i++ {
		msg[i] = 0 // the HMAC, read as zero
	}
	in = append(in, msg...)
	m := hmac.New(sha256.New, hmacVectorKey)
	m.Write(in)
	return m.Sum(nil)[:16]
}

// onesComplement is RFC 1071's checksum, written again here.
func onesComplement(parts ...[]byte) uint16 {
	var s uint32
	for _, b := range parts {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestAuthHMACVectorsVerifyByHand(t *testing.T) {
	for _, v := range hmacVectors() {
		t.Run(v.name, func(t *testing.T) {
			image, _ := hex.DecodeString(v.image)
			if got, want := image[len(image)-16:], byHand(t, image, v.src); !bytes.Equal(got, want) {
				t.Fatalf("HMAC in the image %x, computed by hand %x", got, want)
			}
			zeroed := append([]byte{}, image...)
			zeroed[6], zeroed[7] = 0, 0
			var sum uint16
			if v.src.Is4() {
				sum = onesComplement(zeroed[:12]) // the message only, no pseudo-header
			} else {
				pseudo := append(append([]byte{}, v.src.AsSlice()...), v.dst.AsSlice()...)
				pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(zeroed)))
				pseudo = append(pseudo, 0, 0, 0, ProtocolVRRP)
				sum = onesComplement(pseudo, zeroed)
			}
			if got := binary.BigEndian.Uint16(image[6:]); got != sum {
				t.Fatalf("checksum in the image %#04x, computed by hand %#04x", got, sum)
			}
		})
	}
}

func TestAuthHMACVectorsDecodeVerifyAndEncode(t *testing.T) {
	for _, v := range hmacVectors() {
		t.Run(v.name, func(t *testing.T) {
			image, _ := hex.DecodeString(v.image)
			env := Envelope{Src: v.src, Dst: v.dst, HopLimit: HopLimit, ChecksumAsV2: v.asV2}
			a, err := Decode(image, env)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !a.HasTrailer || a.Trailer.Type != TrailerTypeSHA256 || a.Trailer.KeyID != 1 || a.Trailer.Seq != 0x6800000080000000 {
				t.Fatalf("trailer %+v (present %v)", a.Trailer, a.HasTrailer)
			}
			if len(a.Addrs) != 1 || a.Addrs[0] != v.vip || a.Priority != 200 || a.VRID != 51 {
				t.Fatalf("advert %+v", a)
			}
			if !VerifyTrailerHMAC(hmacVectorKey, 3, 51, v.src, image) {
				t.Fatal("VerifyTrailerHMAC refuses the image")
			}
			if VerifyTrailerHMAC(hmacVectorKey, 3, 52, v.src, image) {
				t.Fatal("an image verifies for another VRID")
			}
			other := netip.MustParseAddr("198.51.100.11")
			if v.src.Is6() {
				other = netip.MustParseAddr("fe80::11")
			}
			if VerifyTrailerHMAC(hmacVectorKey, 3, 51, other, image) {
				t.Fatal("an image verifies for another sender")
			}
			out := Advert{Version: 3, VRID: 51, Priority: 200, Interval: 100, Addrs: []netip.Addr{v.vip},
				HasTrailer: true, Trailer: Trailer{Type: TrailerTypeSHA256, KeyID: 1, Seq: 0x6800000080000000}}
			b, err := out.AppendSigned(nil, env, hmacVectorKey)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, image) {
				t.Fatalf("encoded\n%x\nwant\n%x", b, image)
			}
		})
	}
}

// A byte changed anywhere the HMAC covers is refused; the checksum is not covered (over IPv6
// the checksum then fails on its own, as the kernel would find for Keepalived).
func TestAuthHMACTamperedFieldsFail(t *testing.T) {
	image, _ := hex.DecodeString(hmacVector6)
	src := netip.MustParseAddr("fe80::10")
	for _, c := range []struct {
		name   string
		off    int
		verify bool
	}{
		{"priority", 2, false}, {"interval", 5, false}, {"checksum", 6, true}, {"vip", 8 + 15, false},
		{"key id", 24 + 1, false}, {"seconds", 24 + 4, false}, {"counter", 24 + 11, false}, {"hmac", 24 + 12, false},
	} {
		b := append([]byte{}, image...)
		b[c.off] ^= 0x01
		if got := VerifyTrailerHMAC(hmacVectorKey, 3, 51, src, b); got != c.verify {
			t.Errorf("%s changed: verifies %v, want %v", c.name, got, c.verify)
		}
	}
}

func TestTrailerPresenceAgainstPolicy(t *testing.T) {
	image, _ := hex.DecodeString(hmacVector4)
	env := Envelope{Src: netip.MustParseAddr("198.51.100.10"), Dst: GroupIPv4(), HopLimit: HopLimit, ChecksumAsV2: true}
	signed, err := Decode(image, env)
	if err != nil {
		t.Fatal(err)
	}
	plain := *signed
	plain.HasTrailer = false
	vips := []netip.Addr{netip.MustParseAddr("192.0.2.100")}
	for _, c := range []struct {
		policy TrailerPolicy
		a      *Advert
		want   Reason
	}{
		{TrailerRefused, signed, ReasonLong},
		{TrailerRefused, &plain, ReasonNone},
		{TrailerOptional, signed, ReasonNone},
		{TrailerOptional, &plain, ReasonNone},
		{TrailerRequired, signed, ReasonNone},
		{TrailerRequired, &plain, ReasonHMACMissing},
	} {
		e := Expect{Version: 3, Interval: 100, VIPs: vips, Trailer: c.policy}
		if got := ReasonOf(e.Check(c.a)); got != c.want {
			t.Errorf("policy %d, trailer %v: %v, want %v", c.policy, c.a.HasTrailer, got, c.want)
		}
	}
}

// v3_checksum_as_v2: the sender leaves the pseudo-header out; a receiver configured so takes
// either form, one that is not refuses the short form.
func TestChecksumAsV2(t *testing.T) {
	a := Advert{Version: 3, VRID: 7, Priority: 100, Interval: 100, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
	env := Envelope{Src: netip.MustParseAddr("192.0.2.10"), Dst: GroupIPv4(), HopLimit: HopLimit}
	asV2 := env
	asV2.ChecksumAsV2 = true
	short, err := a.Marshal(asV2)
	if err != nil {
		t.Fatal(err)
	}
	zeroed := append([]byte{}, short...)
	zeroed[6], zeroed[7] = 0, 0
	if got, want := binary.BigEndian.Uint16(short[6:]), onesComplement(zeroed); got != want {
		t.Fatalf("checksum as v2 %#04x, want the message's alone %#04x", got, want)
	}
	full, _ := a.Marshal(env)
	if bytes.Equal(full, short) {
		t.Fatal("the two forms are the same; the test proves nothing")
	}
	if _, err := Decode(short, asV2); err != nil {
		t.Errorf("as v2 refuses as v2: %v", err)
	}
	if _, err := Decode(full, asV2); err != nil {
		t.Errorf("as v2 refuses the pseudo-header form: %v", err)
	}
	if _, err := Decode(short, env); !errors.Is(err, ReasonChecksum) {
		t.Errorf("default receiver takes the short form: %v", err)
	}
	// IPv6 ignores the option: the checksum is the kernel's, with the pseudo-header.
	a6 := Advert{Version: 3, VRID: 7, Priority: 100, Interval: 100, Addrs: []netip.Addr{netip.MustParseAddr("fe80::1")}}
	env6 := Envelope{Src: netip.MustParseAddr("fe80::10"), Dst: GroupIPv6(), HopLimit: HopLimit, ChecksumAsV2: true}
	b6, _ := a6.Marshal(env6)
	env6.ChecksumAsV2 = false
	if _, err := Decode(b6, env6); err != nil {
		t.Errorf("IPv6 with the option set differs: %v", err)
	}
}
