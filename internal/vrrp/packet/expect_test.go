package packet

import (
	"errors"
	"testing"
)

func TestExpectCheckRefusesWhatTheConfigurationForbids(t *testing.T) {
	base := func() Advert {
		return Advert{Version: 2, VRID: 1, Priority: 100, Interval: 1, AuthType: AuthPass, AuthData: PassData("vigil"),
			Addrs: addrs("192.0.2.1", "192.0.2.2")}
	}
	exp := Expect{Version: 2, AuthType: AuthPass, AuthData: PassData("vigil"), Interval: 1, VIPs: addrs("192.0.2.2", "192.0.2.1")}
	tests := []struct {
		name   string
		edit   func(a *Advert, e *Expect)
		want   Reason
		advise bool
	}{
		{"MatchingAdvertPasses", func(a *Advert, e *Expect) {}, ReasonNone, false},
		{"OtherVersionIsBadVersion", func(a *Advert, e *Expect) { a.Version = 3 }, ReasonVersion, false},
		{"NoAuthWhenPassConfiguredIsAuthTypeMismatch", func(a *Advert, e *Expect) { a.AuthType = AuthNone }, ReasonAuthType, false},
		{"WrongPasswordIsAuthFailure", func(a *Advert, e *Expect) { a.AuthData = PassData("vigi1") }, ReasonAuthData, false},
		{"AuthAHWithoutAHHeaderIsAuthTypeMismatch", func(a *Advert, e *Expect) {
			a.AuthType, e.AuthType = AuthAH, AuthAH
		}, ReasonAuthType, false},
		{"AHHeaderWithAuthNoneIsAuthTypeMismatch", func(a *Advert, e *Expect) {
			a.AuthType, e.AuthType, a.HasAH = AuthNone, AuthNone, true
		}, ReasonAuthType, false},
		{"V2IntervalDifferenceIsIntervalMismatch", func(a *Advert, e *Expect) { a.Interval = 2 }, ReasonInterval, false},
		{"V3IntervalDifferenceIsAccepted", func(a *Advert, e *Expect) {
			a.Version, e.Version, a.AuthType, e.AuthType, a.Interval = 3, 3, AuthNone, AuthNone, 7
		}, ReasonNone, false},
		{"V3ZeroIntervalIsRefused", func(a *Advert, e *Expect) {
			a.Version, e.Version, a.AuthType, e.AuthType, a.Interval = 3, 3, AuthNone, AuthNone, 0
		}, ReasonInterval, false},
		{"MissingVIPIsAddressCountMismatch", func(a *Advert, e *Expect) { a.Addrs = a.Addrs[:1] }, ReasonAddressCount, true},
		{"OtherVIPIsAddressListMismatch", func(a *Advert, e *Expect) { a.Addrs = addrs("192.0.2.1", "192.0.2.3") }, ReasonAddressList, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, e := base(), exp
			tt.edit(&a, &e)
			err := e.Check(&a)
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("Check = %v (reason %v), want %v", err, got, tt.want)
			}
			if err != nil && (ReasonOf(err).Advisory() != tt.advise || !errors.Is(err, tt.want)) {
				t.Fatalf("%v: advisory %v, want %v", err, ReasonOf(err).Advisory(), tt.advise)
			}
		})
	}
}

func TestCountersCountEachReasonSeparately(t *testing.T) {
	var c Counters
	c.Observe(&Error{Reason: ReasonChecksum})
	c.Observe(&Error{Reason: ReasonChecksum})
	c.Observe(ReasonHopLimit)
	c.Observe(nil)
	c.Observe(errors.New("not ours"))
	seen := map[string]uint64{}
	c.Each(func(r Reason, n uint64) { seen[r.String()] = n })
	if len(seen) != int(NumReasons)-1 {
		t.Fatalf("Each visited %d reasons, want %d", len(seen), NumReasons-1)
	}
	if seen["bad_checksum"] != 2 || seen["bad_ttl"] != 1 || c.Get(ReasonShort) != 0 {
		t.Fatalf("counts %v", seen)
	}
	for r := ReasonNone; r < NumReasons; r++ {
		if r.String() == "" || r.Error() == "" {
			t.Fatalf("reason %d has no name", r)
		}
	}
}
