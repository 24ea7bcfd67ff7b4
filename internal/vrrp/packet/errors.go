package packet

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Reason says why a packet was refused. Reason implements error so that
// errors.Is(err, packet.ReasonChecksum) matches any *Error with that reason.
type Reason uint8

// The reasons a packet is refused. Their String forms are stable and meant
// as metric label values.
const (
	ReasonNone           Reason = iota // not an error
	ReasonShort                        // shorter than the header or than its address count implies
	ReasonLong                         // longer than its address count implies
	ReasonVersion                      // version is not 2 or 3, VRRPv2 over IPv6, VRRPv3 behind AH, or not the configured one
	ReasonType                         // type is not 1 (advertisement)
	ReasonChecksum                     // checksum does not verify
	ReasonHopLimit                     // IPv4 TTL or IPv6 hop limit is not 255
	ReasonFamily                       // source or destination address unusable or of mixed families
	ReasonSource                       // IPv6 multicast advert from a source that is not link-local
	ReasonAH                           // IPsec AH header malformed or not followed by VRRP
	ReasonAuthType                     // v2 authentication type unknown or not the configured one
	ReasonAuthData                     // v2 PASS authentication data differs from the configured one
	ReasonInterval                     // v2 interval differs from the configured one, or v3 interval is zero
	ReasonAddressCount                 // address count differs from the configured number of VIPs
	ReasonAddressList                  // a configured VIP is missing from the advertisement
	ReasonHMACMissing                  // auth_hmac enforce: the advert carries no trailer (or a trailer the instance does not expect)
	ReasonHMACMalformed                // auth_hmac trailer of another scheme or with a non-zero reserved field
	ReasonHMACUnknownKey               // auth_hmac trailer names a key id the instance does not hold
	ReasonHMACInvalid                  // auth_hmac trailer's HMAC does not verify
	ReasonHMACStale                    // auth_hmac trailer's time is outside the freshness window
	ReasonHMACReplay                   // auth_hmac trailer's sequence does not grow past the sender's last
	NumReasons                         // number of reasons, for sizing arrays
)

var reasonNames = [NumReasons]string{
	ReasonNone:         "none",
	ReasonShort:        "short",
	ReasonLong:         "long",
	ReasonVersion:      "bad_version",
	ReasonType:         "bad_type",
	ReasonChecksum:     "bad_checksum",
	ReasonHopLimit:     "bad_ttl",
	ReasonFamily:       "bad_address_family",
	ReasonSource:       "source_not_link_local",
	ReasonAH:           "bad_ah_header",
	ReasonAuthType:     "auth_type_mismatch",
	ReasonAuthData:     "auth_failure",
	ReasonInterval:     "interval_mismatch",
	ReasonAddressCount: "address_count_mismatch",
	ReasonAddressList:  "address_list_mismatch",
	// Keepalived's auth_ext_* statistics.
	ReasonHMACMissing:    "auth_ext_missing",
	ReasonHMACMalformed:  "auth_ext_malformed",
	ReasonHMACUnknownKey: "auth_ext_unknown_key",
	ReasonHMACInvalid:    "auth_ext_invalid_hmac",
	ReasonHMACStale:      "auth_ext_stale",
	ReasonHMACReplay:     "auth_ext_replay",
}

// String returns the metric label for r.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Error makes Reason usable as an errors.Is target.
func (r Reason) Error() string { return "vrrp packet: " + r.String() }

// Advisory reports whether Keepalived still processes an advertisement refused
// for this reason (it counts and logs an address count or list mismatch but
// acts on the advertisement); every other reason drops the packet.
func (r Reason) Advisory() bool {
	return r == ReasonAddressCount || r == ReasonAddressList
}

// Error is a refused packet: the reason and, where it helps, the value found
// and the value expected.
type Error struct {
	Reason Reason
	Got    int // the offending value (length, version, type, checksum, TTL, count...)
	Want   int // what was expected, when there is a single right answer
}

func (e *Error) Error() string {
	switch e.Reason {
	case ReasonShort, ReasonLong:
		return fmt.Sprintf("vrrp packet: %s: %d bytes, want %d", e.Reason, e.Got, e.Want)
	case ReasonVersion:
		if e.Want != 0 {
			return fmt.Sprintf("vrrp packet: version %d, want %d", e.Got, e.Want)
		}
		return fmt.Sprintf("vrrp packet: bad version %d", e.Got)
	case ReasonType:
		return fmt.Sprintf("vrrp packet: bad type %d, want 1 (advertisement)", e.Got)
	case ReasonChecksum:
		return fmt.Sprintf("vrrp packet: bad checksum %#04x, computed %#04x", e.Got, e.Want)
	case ReasonHopLimit:
		return fmt.Sprintf("vrrp packet: TTL/hop limit %d, want 255", e.Got)
	case ReasonSource:
		return "vrrp packet: IPv6 multicast advertisement from a source that is not link-local"
	case ReasonAH:
		return fmt.Sprintf("vrrp packet: bad IPsec AH header (next header %d, length %d)", e.Got, e.Want)
	case ReasonAuthType:
		return fmt.Sprintf("vrrp packet: authentication type %d, configured %d", e.Got, e.Want)
	case ReasonInterval:
		return fmt.Sprintf("vrrp packet: advertisement interval %d, configured %d", e.Got, e.Want)
	case ReasonAddressCount:
		return fmt.Sprintf("vrrp packet: %d addresses, configured %d", e.Got, e.Want)
	case ReasonAddressList:
		return fmt.Sprintf("vrrp packet: configured address #%d missing from advertisement", e.Got)
	case ReasonHMACMissing:
		return "vrrp packet: missing authentication trailer"
	case ReasonHMACMalformed:
		return fmt.Sprintf("vrrp packet: malformed authentication trailer (type %d, reserved %d)", e.Got, e.Want)
	case ReasonHMACUnknownKey:
		return fmt.Sprintf("vrrp packet: unknown authentication key id %d", e.Got)
	case ReasonHMACInvalid:
		return "vrrp packet: invalid authentication HMAC"
	case ReasonHMACStale:
		return fmt.Sprintf("vrrp packet: stale authentication trailer, clock skew %d s exceeds window %d s", e.Got, e.Want)
	case ReasonHMACReplay:
		return "vrrp packet: replayed authentication trailer"
	}
	return "vrrp packet: " + e.Reason.String()
}

// Is lets errors.Is match an *Error against its Reason.
func (e *Error) Is(target error) bool {
	r, ok := target.(Reason)
	return ok && r == e.Reason
}

func fail(r Reason, got, want int) error { return &Error{Reason: r, Got: got, Want: want} }

// ReasonOf returns the Reason of a packet error, ReasonNone for nil, and
// NumReasons for an error that did not come from this package.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	var r Reason
	if errors.As(err, &r) {
		return r
	}
	return NumReasons
}

// Counters counts refused packets per Reason. The zero value is ready to use
// and it is safe for concurrent use (the receive path increments, a metrics
// scrape reads).
type Counters struct {
	n [NumReasons]atomic.Uint64
}

// Observe counts err under its Reason and returns that Reason. A nil error
// or one from outside this package is not counted.
func (c *Counters) Observe(err error) Reason {
	r := ReasonOf(err)
	if r != ReasonNone && r < NumReasons {
		c.n[r].Add(1)
	}
	return r
}

// Get returns the count for r.
func (c *Counters) Get(r Reason) uint64 {
	if r >= NumReasons {
		return 0
	}
	return c.n[r].Load()
}

// Each calls fn for every reason (except ReasonNone) with its count, in
// Reason order, so that metrics export zeros too.
func (c *Counters) Each(fn func(r Reason, n uint64)) {
	for r := ReasonNone + 1; r < NumReasons; r++ {
		fn(r, c.n[r].Load())
	}
}
