package vrrp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
)

// auth_hmac (Keepalived 2.4, draft-cassen-vrrp-auth-hmac): the codec builds and reads the
// trailer (packet/hmac.go); here are the keys, the sender's sequence and the receiver's
// freshness window and replay marks, as Keepalived 2.4.3 keeps them (vrrp_auth_hmac.c):
//
//   - the sequence is the clock (seconds << 32 | a 1/65536 s fraction << 16), or the last one
//     plus one when the clock has not moved past it; in time mode a sequence stranded more
//     than the window ahead of the clock (a clock stepped back) restarts from the clock;
//   - a receiver in time mode refuses a trailer whose seconds are more than the window away
//     from its own clock (stale), before computing the HMAC;
//   - after the HMAC verifies, the sequence must grow past the last one accepted from that
//     sender (RFC 1982 serial arithmetic); a mark older than the window is forgotten in time
//     mode, so a sender whose clock was corrected is heard again. Unicast peers each have a
//     mark; multicast senders share four slots, the least recently used one given up.

// hmacMulticastSenders is how many multicast senders' replay marks an instance keeps.
const hmacMulticastSenders = 4

// hmacSpec is an instance's auth_hmac configuration.
type hmacSpec struct {
	keys     map[uint8][]byte
	active   uint8
	timeMode bool
	window   int64 // seconds
	mode     string
}

func newHMACSpec(a *vrrpd.AuthHMAC) *hmacSpec {
	if a == nil {
		return nil
	}
	h := &hmacSpec{keys: map[uint8][]byte{}, active: uint8(a.ActiveKey), timeMode: a.AntiReplay != "monotonic",
		window: int64(a.TimeWindow), mode: a.Mode}
	for _, k := range a.Keys {
		h.keys[uint8(k.ID)] = k.Data
	}
	return h
}

// signs reports whether the instance sends trailers (not in receive-only mode).
func (h *hmacSpec) signs() bool { return h != nil && h.mode != "receive-only" }

// policy is what the instance accepts of trailers.
func (h *hmacSpec) policy() packet.TrailerPolicy {
	switch {
	case h == nil:
		return packet.TrailerRefused
	case h.mode == "enforce":
		return packet.TrailerRequired
	}
	return packet.TrailerOptional
}

// key is what a reload compares: the keys' digests, never the keys.
func (h *hmacSpec) key() string {
	if h == nil {
		return ""
	}
	ids := make([]int, 0, len(h.keys))
	for id := range h.keys {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	s := "|hmac"
	for _, id := range ids {
		d := sha256.Sum256(h.keys[uint8(id)])
		s += fmt.Sprintf(" %d:%s", id, hex.EncodeToString(d[:8]))
	}
	return s
}

// clockSeq packs t into a sequence with the counter clear.
func clockSeq(t time.Time) uint64 {
	sub := uint64(t.Nanosecond()) << 16 / 1e9
	return uint64(uint32(t.Unix()))<<32 | sub<<16
}

// seqAfter is RFC 1982's a > b over 64 bits.
func seqAfter(a, b uint64) bool { return int64(a-b) > 0 }

// replayMark is the last sequence accepted from one sender.
type replayMark struct {
	seq      uint64
	lastUsed uint64 // LRU rank among the multicast slots
}

// hmacState is an instance's auth_hmac state: the sender's last sequence and the replay marks.
// It lives as long as the instance, across reloads that keep its identity.
type hmacState struct {
	mu      sync.Mutex
	sendSeq uint64
	marks   map[netip.Addr]*replayMark
	rank    uint64
}

func newHMACState() *hmacState { return &hmacState{marks: map[netip.Addr]*replayMark{}} }

// nextSeq returns the sequence of the next advert sent at now.
func (st *hmacState) nextSeq(h *hmacSpec, now time.Time) uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	clk := clockSeq(now)
	switch {
	case seqAfter(clk, st.sendSeq):
		st.sendSeq = clk
	case h.timeMode && int64(int32(uint32(st.sendSeq>>32)-uint32(clk>>32))) > h.window:
		st.sendSeq = clk
	default:
		st.sendSeq++
	}
	return st.sendSeq
}

// verify checks a signed advert: msg is the VRRP message and its trailer as received, adv
// what Decode made of it. unicast says the sender is a configured peer (a mark of its own);
// otherwise it takes one of the multicast slots. It returns a *packet.Error, or nil.
func (st *hmacState) verify(h *hmacSpec, now time.Time, version, vrid uint8, src netip.Addr, msg []byte, adv *packet.Advert, unicast bool) error {
	tr := &adv.Trailer
	if tr.Type != packet.TrailerTypeSHA256 || tr.Reserved != 0 {
		return &packet.Error{Reason: packet.ReasonHMACMalformed, Got: int(tr.Type), Want: int(tr.Reserved)}
	}
	if h.timeMode {
		// Refused before the HMAC is computed, so a flood of old captures costs no digests.
		skew := int64(int32(uint32(now.Unix()) - tr.Seconds()))
		if skew > h.window || skew < -h.window {
			return &packet.Error{Reason: packet.ReasonHMACStale, Got: int(skew), Want: int(h.window)}
		}
	}
	key, ok := h.keys[tr.KeyID]
	if !ok {
		return &packet.Error{Reason: packet.ReasonHMACUnknownKey, Got: int(tr.KeyID)}
	}
	if !packet.VerifyTrailerHMAC(key, version, vrid, src, msg) {
		return &packet.Error{Reason: packet.ReasonHMACInvalid}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.mark(src, unicast)
	if m.lastUsed != 0 && h.timeMode {
		age := int64(int32(uint32(now.Unix()) - uint32(m.seq>>32)))
		if age > h.window || age < -h.window {
			m.lastUsed = 0 // forgotten: a sender that recovered from a clock step is heard again
		}
	}
	if m.lastUsed != 0 && !seqAfter(tr.Seq, m.seq) {
		return &packet.Error{Reason: packet.ReasonHMACReplay}
	}
	st.rank++
	m.seq, m.lastUsed = tr.Seq, st.rank
	return nil
}

// mark returns src's replay mark (lastUsed 0: none yet), making room for a new multicast
// sender by giving up the least recently used slot.
func (st *hmacState) mark(src netip.Addr, unicast bool) *replayMark {
	if m, ok := st.marks[src]; ok {
		return m
	}
	if !unicast && len(st.marks) >= hmacMulticastSenders {
		var victim netip.Addr
		var oldest *replayMark
		for a, m := range st.marks {
			if oldest == nil || m.lastUsed < oldest.lastUsed {
				victim, oldest = a, m
			}
		}
		delete(st.marks, victim)
	}
	m := &replayMark{}
	st.marks[src] = m
	return m
}
