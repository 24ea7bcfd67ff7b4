package packet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzDecode feeds arbitrary payloads to Unmarshal. Inputs: the payload,
// whether it is IPv6, whether it is behind an AH header, and whether the
// harness should first repair the VRRP checksum (so that the fuzzer gets past
// it and exercises the code behind it). Properties: Unmarshal never panics;
// whatever it accepts, Marshal re-encodes to the same bytes (but for the v3
// and AH reserved bits, which are sent as zero) and Unmarshal accepts again.
func FuzzDecode(f *testing.F) {
	// Seeds also live in testdata/fuzz/FuzzDecode (the golden packets).
	f.Add([]byte{0x21, 0x01, 0x64, 0x01, 0, 1, 0, 0, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0}, false, false, true)
	f.Add([]byte{0x31, 0x01, 0x64, 0x00, 0, 100, 0, 0}, true, false, true)
	f.Fuzz(func(t *testing.T, payload []byte, ipv6, ah, fixSum bool) {
		env := Envelope{Src: netip.MustParseAddr("192.0.2.10"), Dst: GroupIPv4(), HopLimit: 255}
		if ipv6 {
			env.Src, env.Dst = netip.MustParseAddr("fe80::ff:fe00:a"), GroupIPv6()
		}
		msgOff := 0
		if ah {
			env.Protocol = ProtocolAH
			msgOff = AHLen
		}
		in := bytes.Clone(payload)
		if fixSum && len(in) >= msgOff+headerLen {
			msg := in[msgOff:]
			binary.BigEndian.PutUint16(msg[6:], 0)
			binary.BigEndian.PutUint16(msg[6:], Checksum(msg[0]>>4, msg, env.Src, env.Dst))
		}
		var a Advert
		if err := a.Unmarshal(in, env); err != nil {
			if ReasonOf(err) == ReasonNone || ReasonOf(err) >= NumReasons || err.Error() == "" {
				t.Fatalf("error %v has no reason", err)
			}
			return
		}
		out, err := a.Marshal(env)
		if err != nil {
			t.Fatalf("accepted %x but cannot re-encode %+v: %v", in, a, err)
		}
		want := bytes.Clone(in)
		if ah {
			want[2], want[3] = 0, 0 // AH reserved field, ignored on receipt
		}
		if a.Version == 3 && want[msgOff+4]&0xf0 != 0 {
			// Reserved bits are ignored on receipt and sent as zero, so the
			// checksum differs too: compare the rest.
			want[msgOff+4] &= 0x0f
			copy(want[msgOff+6:msgOff+8], out[msgOff+6:msgOff+8])
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("re-encoded\n%x\nwant\n%x", out, want)
		}
		var b Advert
		if err := b.Unmarshal(out, env); err != nil {
			t.Fatalf("re-encoded packet refused: %v", err)
		}
		if !equalAdvert(&a, &b) {
			t.Fatalf("second decode differs:\n%+v\n%+v", a, b)
		}
	})
}
