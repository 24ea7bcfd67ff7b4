package status

import (
	"slices"
	"testing"
)

func TestRingKeepsTheLastValuesWhileItsBufferGrows(t *testing.T) {
	for _, size := range []int{1, 2, 3, 5, 32, 60} {
		for pushes := 0; pushes <= 3*size+1; pushes++ {
			r := NewRing[int](size)
			var want []int
			for i := range pushes {
				r.Push(i)
				want = append(want, i)
			}
			want = want[max(0, len(want)-size):]
			if got := r.Items(); !slices.Equal(got, want) {
				t.Fatalf("size %d, %d pushes: items %v, want %v", size, pushes, got, want)
			}
			if r.Len() != len(want) {
				t.Fatalf("size %d, %d pushes: len %d, want %d", size, pushes, r.Len(), len(want))
			}
			if last, ok := r.Last(); ok != (pushes > 0) || (ok && last != pushes-1) {
				t.Fatalf("size %d, %d pushes: last %d, %v", size, pushes, last, ok)
			}
			if cap(r.buf) > size {
				t.Fatalf("size %d: buffer of %d", size, cap(r.buf))
			}
			r.Reset()
			r.Push(7)
			if got := r.Items(); !slices.Equal(got, []int{7}) {
				t.Fatalf("size %d, %d pushes, then reset and 7: items %v", size, pushes, got)
			}
		}
	}
}

func TestRingGrowsOnlyAsFarAsItsValues(t *testing.T) {
	r := NewRing[StateChange](TimelineSize)
	r.Push(StateChange{Up: true})
	r.Push(StateChange{})
	if cap(r.buf) > 2 {
		t.Errorf("two changes hold a buffer of %d", cap(r.buf))
	}
}
