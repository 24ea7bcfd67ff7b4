package vrrp

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// refusalLogEvery is how often one instance logs a refusal of one reason. It is a fixed second
// rather than the advertisement interval: advert_int runs from 10 ms (VRRPv3) to 255 s
// (VRRPv2), which would allow a hundred lines a second per reason at one end and minutes of
// silence at the other; a second bounds a flood's output to one line per reason and instance
// whatever the configuration, and is as often as a person reading the log can follow.
const refusalLogEvery = time.Second

// refusalLog writes the debug line of each refused advert, at most once per reason per
// refusalLogEvery: the first refusal of a reason is logged at once, the next ones within the
// second are only counted, and the next line of that reason says how many were left out
// ("suppressed"). The counters (InstanceStatus.Dropped) count every refusal; this only spares
// the log during a flood.
//
// Keepalived rate-limits the same lines differently (vrrp.c, log_rate_limited_error): one flag
// per kind of error and instance, set when the line is logged and cleared only when the
// instance changes state or accepts an advert from a new master, so that a flood is logged
// once and a steady misconfiguration once per state, with no count. A count and a period keep
// a misconfigured peer visible in a log that is read later.
//
// A refusalLog belongs to the instance's reader goroutine; it is not safe for concurrent use.
type refusalLog struct {
	log  *slog.Logger
	now  func() time.Time
	seen map[string]*refusalWindow // by reason
}

// refusalWindow is one reason's state: when its last line was written and how many
// refusals were left out since.
type refusalWindow struct {
	logged     time.Time
	suppressed uint64
}

func newRefusalLog(log *slog.Logger, now func() time.Time) *refusalLog {
	return &refusalLog{log: log, now: now, seen: map[string]*refusalWindow{}}
}

// refused logs that an advert from peer was refused for reason (a packet.Reason's name, or
// unknown_peer), with attrs (key, value pairs) saying more, unless a line of that reason was
// written less than refusalLogEvery ago; then it only counts it. Without debug logging it does
// nothing.
func (l *refusalLog) refused(reason string, peer netip.Addr, attrs ...any) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	now := l.now()
	w := l.seen[reason]
	switch {
	case w == nil:
		w = &refusalWindow{}
		l.seen[reason] = w
	case now.Sub(w.logged) < refusalLogEvery:
		w.suppressed++
		return
	}
	args := make([]any, 0, 6+len(attrs))
	args = append(args, "peer", peer, "reason", reason)
	if w.suppressed > 0 {
		args = append(args, "suppressed", w.suppressed)
	}
	l.log.Debug("vrrp advert refused", append(args, attrs...)...)
	w.logged, w.suppressed = now, 0
}
