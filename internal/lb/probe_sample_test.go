package lb

import (
	"testing"
	"time"
)

// A probe sample keeps what the page shows: the time to the millisecond, whether the probe
// passed, and its latency to the microsecond up to 2.1 s, to the millisecond beyond.
func TestProbeSampleKeepsWhatThePageShows(t *testing.T) {
	at := time.Date(2026, 12, 7, 4, 55, 1, 123456789, time.UTC)
	tests := []struct {
		name    string
		at      time.Time
		latency time.Duration
		healthy bool
		wantAt  time.Time
		wantLat time.Duration
	}{
		{"Fast", at, 37*time.Microsecond + 400, true, at.Truncate(time.Millisecond), 38 * time.Microsecond},
		{"Zero", at, 0, false, at.Truncate(time.Millisecond), 0},
		{"JustUnderTheSwitch", at, 2097151 * time.Microsecond, true, at.Truncate(time.Millisecond), 2097151 * time.Microsecond},
		{"Slow", at, 3*time.Second + 1, false, at.Truncate(time.Millisecond), 3001 * time.Millisecond},
		{"Clamped", at, 2 * time.Hour, true, at.Truncate(time.Millisecond), (1<<21 - 1) * time.Millisecond},
		{"BeforeTheEpoch", time.Unix(0, 0), time.Millisecond, true, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond},
	}
	for _, tc := range tests {
		p := newProbeSample(tc.at, tc.latency, tc.healthy).probe()
		if !p.At.Equal(tc.wantAt) || p.Latency != tc.wantLat || p.Healthy != tc.healthy {
			t.Errorf("%s: %+v, want at %v latency %v healthy %t", tc.name, p, tc.wantAt, tc.wantLat, tc.healthy)
		}
	}
}
