package packet

import (
	"crypto/subtle"
	"net/netip"
)

// Expect is what an instance's configuration says its peers' advertisements
// must carry. Check compares an advertisement (already decoded, VRID already
// matched by the caller) against it.
type Expect struct {
	Version  uint8             // 2 or 3
	AuthType AuthType          // v2: the configured authentication
	AuthData [AuthDataLen]byte // v2 PASS: the configured password, NUL padded
	// Interval is the configured raw interval. A v2 advertisement must match
	// it exactly (RFC 3768 section 7.1; Keepalived drops it otherwise); v3
	// only requires a non-zero interval, since a backup adopts the master's.
	Interval uint16
	VIPs     []netip.Addr // the configured virtual addresses
	// Trailer says whether the advertisements carry an auth_hmac trailer. Check only looks at
	// its presence; the HMAC and the sequence need the keys, the sender and a clock.
	Trailer TrailerPolicy
}

// TrailerPolicy is what an instance accepts of auth_hmac trailers.
type TrailerPolicy uint8

const (
	// TrailerRefused: no auth_hmac; an advert with a trailer is too long, as Keepalived
	// without auth_hmac finds it.
	TrailerRefused TrailerPolicy = iota
	// TrailerOptional: auth_hmac mode permissive or receive-only; a trailer, if present,
	// must verify.
	TrailerOptional
	// TrailerRequired: auth_hmac mode enforce.
	TrailerRequired
)

// Check returns nil if a is acceptable, or an *Error. Checks that drop the
// packet come first; the address count and list checks, which Keepalived
// treats as advisory (see Reason.Advisory), come last.
func (e *Expect) Check(a *Advert) error {
	if a.Version != e.Version {
		return fail(ReasonVersion, int(a.Version), int(e.Version))
	}
	switch {
	case a.HasTrailer && e.Trailer == TrailerRefused:
		l := Len(a.Version, len(a.Addrs), a.Addrs != nil && len(a.Addrs) > 0 && !a.Addrs[0].Is4())
		return fail(ReasonLong, l+TrailerLen, l)
	case !a.HasTrailer && e.Trailer == TrailerRequired:
		return fail(ReasonHMACMissing, 0, 0)
	}
	if a.Version == 2 {
		if a.AuthType != e.AuthType || a.HasAH != (e.AuthType == AuthAH) {
			return fail(ReasonAuthType, int(a.AuthType), int(e.AuthType))
		}
		if e.AuthType == AuthPass && subtle.ConstantTimeCompare(a.AuthData[:], e.AuthData[:]) != 1 {
			return fail(ReasonAuthData, 0, 0)
		}
		if a.Interval != e.Interval {
			return fail(ReasonInterval, int(a.Interval), int(e.Interval))
		}
	} else if a.Interval == 0 {
		return fail(ReasonInterval, 0, int(e.Interval))
	}
	if len(a.Addrs) != len(e.VIPs) {
		return fail(ReasonAddressCount, len(a.Addrs), len(e.VIPs))
	}
	// The counts match and configured VIPs are distinct, so every configured
	// VIP being present means the lists are equal (as Keepalived reasons).
	for i, v := range e.VIPs {
		found := false
		for _, x := range a.Addrs {
			if x == v {
				found = true
				break
			}
		}
		if !found {
			return fail(ReasonAddressList, i, 0)
		}
	}
	return nil
}

// PassData returns the 8-byte authentication data Keepalived sends for the
// PASS password pw: its first 8 bytes, NUL padded.
func PassData(pw string) [AuthDataLen]byte {
	var d [AuthDataLen]byte
	copy(d[:], pw)
	return d
}
