package track

import "testing"

func TestHysteresisChangesOnlyAfterRiseOrFallInARow(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		initFail   bool
		results    string // s: success, f: failure
		want       string // state after each: u, d
		changes    string // c: changed, -: not
	}{
		{"first result decides at once", 3, 3, false, "f", "d", "c"},
		{"first success decides at once", 3, 3, false, "s", "u", "c"},
		{"fall 2 needs two failures", 1, 2, false, "sff", "uud", "c-c"},
		{"an interrupted run starts again", 1, 2, false, "sfsff", "uuuud", "c---c"},
		{"rise 3 after a fall", 3, 1, false, "sfsss", "udddu", "cc--c"},
		{"init_fail starts down and needs rise", 2, 1, true, "sss", "duu", "-c-"},
		{"zero rise and fall mean one", 0, 0, false, "sfs", "udu", "ccc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHysteresis(tc.rise, tc.fall, tc.initFail)
			for i, r := range tc.results {
				up, changed := h.Observe(r == 's')
				if got := map[bool]byte{true: 'u', false: 'd'}[up]; got != tc.want[i] {
					t.Errorf("after result %d (%c): state %c, want %c", i, r, got, tc.want[i])
				}
				if changed != (tc.changes[i] == 'c') {
					t.Errorf("after result %d (%c): changed %v, want %v", i, r, changed, !changed)
				}
			}
		})
	}
}

func TestHysteresisStateUnknownBeforeFirstResult(t *testing.T) {
	if _, known := NewHysteresis(1, 1, false).State(); known {
		t.Error("state known before any result")
	}
	if up, known := NewHysteresis(1, 1, true).State(); !known || up {
		t.Errorf("init_fail: up=%v known=%v, want down and known", up, known)
	}
}
