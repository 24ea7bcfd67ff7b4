package packet

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type ahGolden struct {
	where string
	pass  string
	hdr   []byte // the IPv4 header
	pl    []byte // the IP payload: AH header and VRRP message
}

func readAHGolden(t *testing.T) []ahGolden {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "ah_keepalived_ipv4.golden"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ahGolden
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		pass, h, ok := strings.Cut(s, " ")
		b, err := hex.DecodeString(h)
		if !ok || err != nil || len(b) < 20 {
			t.Fatalf("ah_keepalived_ipv4.golden:%d: bad line %q: %v", line, s, err)
		}
		hl := int(b[0]&0x0f) * 4
		out = append(out, ahGolden{where: "ah_keepalived_ipv4.golden:" + strconv.Itoa(line),
			pass: pass, hdr: b[:hl], pl: b[hl:]})
	}
	if len(out) == 0 {
		t.Fatal("no packets in ah_keepalived_ipv4.golden")
	}
	return out
}

func TestAHKeepalivedPacketsVerifyAndResealByteForByte(t *testing.T) {
	for _, p := range readAHGolden(t) {
		key := AHKey(p.pass)
		if err := VerifyAH(key, p.hdr, p.pl, false); err != nil {
			t.Errorf("%s: Keepalived's packet does not verify with auth_pass %q: %v", p.where, p.pass, err)
		}
		// Sealing a copy with its ICV wiped gives back Keepalived's bytes.
		cp := bytes.Clone(p.pl)
		clear(cp[12:AHLen])
		if err := SealAH(key, p.hdr, cp, false); err != nil {
			t.Fatalf("%s: seal: %v", p.where, err)
		}
		if !bytes.Equal(cp, p.pl) {
			t.Errorf("%s: sealed\n%x\nwant\n%x", p.where, cp, p.pl)
		}
		// And the codec reads it as an AH advert whose SPI is the source.
		src := netip.AddrFrom4([4]byte(p.hdr[12:16]))
		dst := netip.AddrFrom4([4]byte(p.hdr[16:20]))
		a, err := Decode(p.pl, Envelope{Src: src, Dst: dst, Protocol: p.hdr[9], HopLimit: int(p.hdr[8])})
		if err != nil || !a.HasAH || a.AuthType != AuthAH || a.AH.SPI != ipv4Uint32(src) {
			t.Errorf("%s: decoded %+v, %v", p.where, a, err)
		}
	}
}

func TestAHVerifyRefusesWhatKeepalivedRefuses(t *testing.T) {
	p := readAHGolden(t)[0]
	key := AHKey(p.pass)
	tests := []struct {
		name   string
		pass   string
		mutate func(hdr, pl []byte)
		want   Reason
	}{
		{"wrong auth_pass", "vigilAH", nil, ReasonAuthData},
		{"only the first 8 bytes of auth_pass count", p.pass + "\x00", nil, ReasonNone},
		{"priority changed", p.pass, func(_, pl []byte) { pl[AHLen+2]++ }, ReasonAuthData},
		{"VIP changed", p.pass, func(_, pl []byte) { pl[len(pl)-9]++ }, ReasonAuthData},
		{"sequence number changed", p.pass, func(_, pl []byte) { pl[11]++ }, ReasonAuthData},
		{"source address changed", p.pass, func(h, _ []byte) { h[15]++ }, ReasonAuthData},
		{"identification changed", p.pass, func(h, _ []byte) { h[5]++ }, ReasonAuthData},
		{"multicast TTL changed", p.pass, func(h, _ []byte) { h[8]-- }, ReasonAuthData},
		{"TOS is mutable", p.pass, func(h, _ []byte) { h[1] = 0 }, ReasonNone},
		{"fragment flags are mutable", p.pass, func(h, _ []byte) { h[6] = 0x40 }, ReasonNone},
		{"header checksum is mutable", p.pass, func(h, _ []byte) { h[10], h[11] = 0, 0 }, ReasonNone},
		{"SPI not the source, ICV resealed", p.pass, func(h, pl []byte) {
			pl[7]++
			SealAH(key, h, pl, false)
		}, ReasonAuthData},
		{"payload shorter than AH", p.pass, func(_, pl []byte) {}, ReasonShort},
		{"not an IPv4 header", p.pass, func(h, _ []byte) { h[0] = 0x65 }, ReasonAH},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, pl := bytes.Clone(p.hdr), bytes.Clone(p.pl)
			if tt.mutate != nil {
				tt.mutate(hdr, pl)
			}
			if tt.want == ReasonShort {
				pl = pl[:AHLen-1]
			}
			err := VerifyAH(AHKey(tt.pass), hdr, pl, false)
			if got := ReasonOf(err); got != tt.want {
				t.Errorf("VerifyAH: reason %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestAHUnicastLeavesTTLOut(t *testing.T) {
	p := readAHGolden(t)[0]
	key := AHKey(p.pass)
	hdr, pl := bytes.Clone(p.hdr), bytes.Clone(p.pl)
	if err := SealAH(key, hdr, pl, true); err != nil {
		t.Fatal(err)
	}
	hdr[8] = 61 // crossed routers
	if err := VerifyAH(key, hdr, pl, true); err != nil {
		t.Errorf("unicast: a TTL changed on the way must not matter: %v", err)
	}
	if err := VerifyAH(key, hdr, pl, false); !errors.Is(err, ReasonAuthData) {
		t.Errorf("multicast check of a unicast ICV: %v, want auth failure", err)
	}
}

func TestAHSeqIsOneCounterForSentAndReceived(t *testing.T) {
	var s AHSeq
	steps := []struct {
		op   string // "next" or "accept"
		seq  uint32
		want uint32 // next: the number; accept: 0 if accepted, 1 if refused
	}{
		{"next", 0, 1},
		{"next", 0, 2},
		{"accept", 2, 1}, // a peer's number equal to one sent: already processed
		{"accept", 1, 1},
		{"accept", 40, 0}, // a master ahead of us: adopted
		{"next", 0, 41},   // we send above it
		{"accept", 41, 1},
		{"accept", 1, 1}, // a restarted peer starts from 1: refused until it adopts ours
		{"accept", 42, 0},
		{"next", 0, 43},
	}
	for i, st := range steps {
		switch st.op {
		case "next":
			if got := s.Next(); got != st.want {
				t.Fatalf("step %d: Next = %d, want %d", i, got, st.want)
			}
		case "accept":
			err := s.Accept(st.seq)
			if refused := err != nil; refused != (st.want == 1) {
				t.Fatalf("step %d: Accept(%d) = %v, want refused %v", i, st.seq, err, st.want == 1)
			}
			if err != nil && ReasonOf(err) != ReasonAuthData {
				t.Fatalf("step %d: reason %v, want %v", i, ReasonOf(err), ReasonAuthData)
			}
		}
	}
	if s.Current() != 43 {
		t.Errorf("Current = %d, want 43", s.Current())
	}
}

func TestAHSeqStopsAtItsEnd(t *testing.T) {
	var s AHSeq
	if err := s.Accept(AHSeqMax - 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Next(); got != AHSeqMax {
		t.Fatalf("Next = %#x, want %#x", got, uint32(AHSeqMax))
	}
	if got := s.Next(); got != AHSeqMax {
		t.Errorf("Next past the end = %#x, want it to stay %#x", got, uint32(AHSeqMax))
	}
}

func TestAHSeqConcurrentNumbersAreDistinct(t *testing.T) {
	var s AHSeq
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint32]bool{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				n := s.Next()
				mu.Lock()
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 400 || s.Current() != 400 {
		t.Errorf("%d distinct numbers, counter %d; want 400 and 400", len(seen), s.Current())
	}
}
