package lvs

import (
	"bytes"
	"testing"
)

func TestHexStringReadsPairsAndWildcards(t *testing.T) {
	tests := []struct {
		in        string
		wildcards bool
		data      []byte
		mask      []byte
		ok        bool
	}{
		{in: "0a0b", data: []byte{0x0a, 0x0b}, ok: true},
		{in: "0a 0b ff", data: []byte{0x0a, 0x0b, 0xff}, ok: true},
		{in: "a b", data: []byte{0x0a, 0x0b}, ok: true},
		{in: "zz", ok: false},
		{in: "", ok: false},
		{in: "0x", ok: false},
		{in: "0x ff", wildcards: true, data: []byte{0x00, 0xff}, mask: []byte{0xf0, 0xff}, ok: true},
		{in: "XX", wildcards: true, data: []byte{0x00}, mask: []byte{0x00}, ok: true},
	}
	for _, tt := range tests {
		data, mask, ok := lvsHexString(tt.in, tt.wildcards)
		if ok != tt.ok || !bytes.Equal(data, tt.data) || !bytes.Equal(mask, tt.mask) {
			t.Errorf("lvsHexString(%q, %v) = %x, %x, %v; want %x, %x, %v", tt.in, tt.wildcards, data, mask, ok, tt.data, tt.mask, tt.ok)
		}
	}
}
