package bus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collector records what a subscriber was handed; gate, when set, holds each call until it is
// released, as a slow subscriber.
type collector struct {
	mu   sync.Mutex
	got  []string
	gate chan struct{}
}

func (c *collector) take(v string) {
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
}

func (c *collector) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func TestEverySubscriberGetsEveryValueInOrder(t *testing.T) {
	b := New[string]()
	a, c := &collector{}, &collector{}
	b.Subscribe("a", a.take)
	b.Subscribe("c", c.take)
	var want []string
	for i := range 100 {
		v := fmt.Sprint(i)
		want = append(want, v)
		b.Publish("", v)
	}
	if err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*collector{a, c} {
		if got := x.list(); !slices.Equal(got, want) {
			t.Fatalf("handed %v, want %v", got, want)
		}
	}
	b.Close()
}

// A subscriber that falls behind sees only the latest value of each key, after the keyless
// values published before it, and every keyless value.
func TestASlowSubscriberSeesTheLatestStateOfEachKeyAndEveryEvent(t *testing.T) {
	b := New[string]()
	slow := &collector{gate: make(chan struct{})}
	fast := &collector{}
	b.Subscribe("slow", slow.take)
	b.Subscribe("fast", fast.take)
	b.Publish("", "first")
	// The slow subscriber is now blocked inside its first call; everything below queues.
	time.Sleep(10 * time.Millisecond)
	b.Publish("vs1", "vs1=down")
	b.Publish("", "server-down")
	b.Publish("vs2", "vs2=up")
	b.Publish("vs1", "vs1=up")
	b.Publish("", "server-up")
	b.Publish("vs1", "vs1=serving")
	stats := b.Stats()
	if stats[0].Name != "slow" || stats[0].Coalesced != 2 || stats[0].Pending != 4 {
		t.Errorf("slow subscriber stats %+v, want 2 coalesced and 4 pending", stats[0])
	}
	close(slow.gate)
	if err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := slow.list(), []string{"first", "server-down", "vs2=up", "server-up", "vs1=serving"}; !slices.Equal(got, want) {
		t.Errorf("slow subscriber handed %v, want %v", got, want)
	}
	// The other subscriber may fall behind too, by less: whatever it coalesced, it has every
	// keyless value and the last value of each key.
	got := fast.list()
	for _, want := range []string{"first", "server-down", "server-up", "vs2=up", "vs1=serving"} {
		if !slices.Contains(got, want) {
			t.Errorf("the other subscriber was handed %v, without %q", got, want)
		}
	}
	b.Close()
}

func TestPublishNeverBlocksOnAStuckSubscriber(t *testing.T) {
	b := New[int]()
	stuck := make(chan struct{})
	b.Subscribe("stuck", func(int) { <-stuck })
	done := make(chan struct{})
	go func() {
		for i := range 10000 {
			b.Publish("", i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a stuck subscriber")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Sync(ctx); err == nil {
		t.Error("Sync returned while a subscriber was stuck")
	}
	close(stuck)
	b.Close()
}

func TestCloseHandsOverWhatIsQueuedThenStops(t *testing.T) {
	b := New[int]()
	var mu sync.Mutex
	n := 0
	b.Subscribe("count", func(int) { mu.Lock(); n++; mu.Unlock(); time.Sleep(time.Millisecond) })
	for i := range 50 {
		b.Publish("", i)
	}
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	if n != 50 {
		t.Errorf("handed %d values before Close returned, want 50", n)
	}
	b.Publish("", 51) // after Close: dropped, not a panic
	b.Subscribe("late", func(int) { t.Error("a subscriber after Close was called") })
}
