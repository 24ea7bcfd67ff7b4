package vrrpd

import (
	"encoding/hex"
	"os"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// AuthHMAC is a vrrp_instance's auth_hmac block (Keepalived 2.4): an HMAC-SHA256 trailer on
// every advert, with a time-based sequence against replay (internal/vrrp/packet/hmac.go).
type AuthHMAC struct {
	Pos  syntax.Pos `json:"pos"`
	Keys []*HMACKey `json:"keys"`
	// ActiveKey is the id adverts are signed with.
	ActiveKey int `json:"active_key"`
	// AntiReplay is "time" (a freshness window and a growing sequence; the default) or
	// "monotonic" (a growing sequence only).
	AntiReplay string `json:"anti_replay"`
	// TimeWindow is the freshness window in seconds, 1-300; 0 until Finish derives it from
	// advert_int (max(3 x advert_int, 5)).
	TimeWindow int `json:"time_window"`
	// Mode is "enforce" (the default), "permissive" (signs, accepts an advert without a
	// trailer) or "receive-only" (does not sign, verifies a trailer when there is one).
	Mode string `json:"mode"`
}

// HMACKey is one key of auth_hmac. Its bytes never reach dump-config.
type HMACKey struct {
	Pos syntax.Pos `json:"pos"`
	ID  int        `json:"id"`
	// Source says where the bytes came from: "ascii", "hex" or "file:PATH".
	Source string `json:"source"`
	Len    int    `json:"len"`
	Data   []byte `json:"-"`
}

// Key returns the key of id, or nil.
func (a *AuthHMAC) Key(id int) *HMACKey {
	for _, k := range a.Keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// hmacKeyValue decodes a key as Keepalived does: "hex:" then hex digits, else the ASCII text.
func hmacKeyValue(s string) ([]byte, string) {
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, "hex"
		}
		return b, "hex"
	}
	return []byte(s), "ascii"
}

// addAuthHMACKeywords installs auth_hmac and its block.
func (b *instanceBuilder) addAuthHMACKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	name := b.name
	kw["auth_hmac"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if v.AuthHMAC == nil {
			v.AuthHMAC = &AuthHMAC{Pos: l.Pos, AntiReplay: "time", Mode: "enforce"}
		}
		a := v.AuthHMAC
		id := func(p *syntax.Parser, l syntax.Line, what string) (int, bool) {
			w := ""
			if len(l.Words) > 1 {
				w = l.Words[1]
			}
			n, err := strconv.ParseUint(w, 10, 8)
			if err != nil || n < 1 {
				p.Diags.Warnf(l.Pos, "%s auth_hmac %s '%s' must be between 1 and 255", name, what, w)
				return 0, false
			}
			return int(n), true
		}
		word := func(l syntax.Line) string {
			if len(l.Words) > 1 {
				return l.Words[1]
			}
			return ""
		}
		return &syntax.Table{Keywords: map[string]syntax.Keyword{
			"key": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				if len(l.Words) < 3 {
					p.Diags.Warnf(l.Pos, "%s auth_hmac key needs an id and a value", name)
					return
				}
				n, ok := id(p, l, "key id")
				if !ok {
					return
				}
				k := &HMACKey{Pos: l.Pos, ID: n}
				if path, ok := strings.CutPrefix(l.Words[2], "file:"); ok {
					k.Source = "file:" + path
					k.Data = readHMACKeyFile(p, l.Pos, name, path)
				} else {
					k.Data, k.Source = hmacKeyValue(l.Words[2])
				}
				k.Len = len(k.Data)
				if k.Len < 32 || k.Len > 64 {
					p.Diags.Warnf(l.Pos, "%s auth_hmac key %d length %d not in range [32, 64]", name, n, k.Len)
					return
				}
				if a.Key(n) != nil {
					p.Diags.Warnf(l.Pos, "%s duplicate auth_hmac key id %d", name, n)
					return
				}
				a.Keys = append(a.Keys, k)
			}},
			"active_key": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				if n, ok := id(p, l, "active_key"); ok {
					a.ActiveKey = n
				}
			}},
			"time_window": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				w := word(l)
				n, err := strconv.ParseUint(w, 10, 32)
				if err != nil || n < 1 || n > 300 {
					p.Diags.Warnf(l.Pos, "%s auth_hmac time_window '%s' must be between 1 and 300 seconds", name, w)
					return
				}
				a.TimeWindow = int(n)
			}},
			"anti_replay": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				switch w := word(l); w {
				case "time", "monotonic":
					a.AntiReplay = w
				default:
					p.Diags.Warnf(l.Pos, "%s auth_hmac anti_replay '%s' must be time or monotonic", name, w)
				}
			}},
			"mode": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				switch w := word(l); w {
				case "enforce", "permissive", "receive-only":
					a.Mode = w
				default:
					p.Diags.Warnf(l.Pos, "%s auth_hmac mode '%s' must be enforce, permissive or receive-only", name, w)
				}
			}},
		}}
	}}
}

// readHMACKeyFile reads a key file: what the inline value would be, a trailing line end
// dropped. A key file others may read is a warning, as Keepalived's security error.
func readHMACKeyFile(p *syntax.Parser, pos syntax.Pos, name, path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		p.Diags.Warnf(pos, "%s auth_hmac key file '%s' cannot be opened", name, path)
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		p.Diags.Warnf(pos, "%s auth_hmac key file '%s' is readable by group or others", name, path)
	}
	buf := make([]byte, 4+64*2+8)
	n, _ := f.Read(buf)
	if n == len(buf) {
		p.Diags.Warnf(pos, "%s auth_hmac key file '%s' is too large", name, path)
		return nil
	}
	s := strings.TrimRight(string(buf[:n]), "\r\n")
	data, _ := hmacKeyValue(s)
	return data
}

// finishAuthHMAC applies Keepalived's end-of-instance rules to auth_hmac.
func finishAuthHMAC(diags *syntax.Diagnostics, v *Instance) {
	a := v.AuthHMAC
	if a == nil {
		return
	}
	if v.Authentication != nil && v.Authentication.Type != "" {
		diags.Warnf(v.Pos, "(%s) auth_hmac cannot be combined with authentication, dropping legacy auth", v.Name)
		v.Authentication.Type = ""
	}
	if a.Key(a.ActiveKey) == nil {
		diags.Warnf(v.Pos, "(%s) auth_hmac active_key %d is not defined, disabling extension", v.Name, a.ActiveKey)
		v.AuthHMAC = nil
		return
	}
	if v.StrictMode && a.Mode != "enforce" {
		diags.Warnf(v.Pos, "(%s) strict mode requires auth_hmac mode enforce", v.Name)
		a.Mode = "enforce"
	}
	if a.AntiReplay == "time" && a.TimeWindow == 0 {
		a.TimeWindow = min(max(3*int(v.AdvertInt.D().Seconds()), 5), 300)
	}
}
