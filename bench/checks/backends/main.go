// Command backends serves many health-check targets on loopback for the checker benchmark:
// targets -from to -from+-count-1 of one -kind, tcp (accept and close) or http (answer any
// request with "200 ok"), target i on 127.<net>.<i/254>.<i%254+1>:<port>. Each target is a
// listening socket, so one process serves at most its open-file limit; the driver starts
// several. It measures, per target, the time between consecutive checks, which shows whether
// a checker holds its schedule, and serves a control API:
//
//	GET /stats[?reset=1]  JSON: checks accepted and a histogram of intervals between checks
//	GET /stop?i=N         closes target N's listener (checks then get connection refused)
//	GET /start?i=N        listens again
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// histogram counts intervals in 1 ms buckets up to 30 s.
type histogram struct {
	buckets [30000]atomic.Uint64
	count   atomic.Uint64
}

func (h *histogram) add(d time.Duration) {
	i := int(d / time.Millisecond)
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
}

// sparse returns the non-empty buckets: upper bound in ms → count.
func (h *histogram) sparse() map[int]uint64 {
	out := map[int]uint64{}
	for i := range h.buckets {
		if n := h.buckets[i].Load(); n > 0 {
			out[i+1] = n
		}
	}
	return out
}

func (h *histogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.count.Store(0)
}

type target struct {
	kind string
	addr string
	last atomic.Int64 // unix nanos of the last check
	mu   sync.Mutex
	ln   net.Listener
}

type lab struct {
	accepts   atomic.Uint64
	intervals histogram
	targets   []*target
}

func addrFor(net16 string, i, port int) string {
	return fmt.Sprintf("%s.%d.%d:%d", net16, i/254, i%254+1, port)
}

func (l *lab) listen(t *target) error {
	ln, err := net.Listen("tcp", t.addr)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	go l.serve(t, ln)
	return nil
}

var response = []byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

// keptResponse answers a request that keeps its connection (-keepalive).
var keptResponse = []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

// keepAlive: an HTTP/1.1 request without "Connection: close" keeps its connection, served
// by a goroutine of its own from its second request on (-keepalive).
var keepAlive bool

func (l *lab) serve(t *target, ln net.Listener) {
	buf := make([]byte, 0, 512)
	tmp := make([]byte, 512)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		l.count(t)
		if t.kind == "tcp" {
			c.Close()
			continue
		}
		// One request at a time per target: checks of one target do not overlap.
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if buf = readRequest(c, buf[:0], tmp); keepAlive && wantsKeepAlive(buf) {
			c.Write(keptResponse)
			go l.serveKept(t, c)
			continue
		}
		c.Write(response)
		c.Close()
	}
}

// count records a check of t: one accepted connection, or one request on a kept one.
func (l *lab) count(t *target) {
	now := time.Now().UnixNano()
	if prev := t.last.Swap(now); prev != 0 {
		l.intervals.add(time.Duration(now - prev))
	}
	l.accepts.Add(1)
}

// serveKept answers the requests after the first on a kept connection, until the client
// closes it or sends none for 5 s.
func (l *lab) serveKept(t *target, c net.Conn) {
	defer c.Close()
	buf, tmp := make([]byte, 0, 512), make([]byte, 512)
	for {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if buf = readRequest(c, buf[:0], tmp); !containsBlankLine(buf) {
			return
		}
		l.count(t)
		if _, err := c.Write(keptResponse); err != nil {
			return
		}
	}
}

// readRequest reads a request's head into buf, up to its blank line, an error or 8 KiB.
func readRequest(c net.Conn, buf, tmp []byte) []byte {
	for len(buf) < 8192 {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil || containsBlankLine(buf) {
			break
		}
	}
	return buf
}

// wantsKeepAlive reports whether the request head asks to keep its connection: HTTP/1.1
// without "Connection: close".
func wantsKeepAlive(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	return bytes.HasSuffix(line, []byte(" HTTP/1.1")) && !bytes.Contains(bytes.ToLower(head), []byte("\r\nconnection: close"))
}

func containsBlankLine(b []byte) bool {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return true
		}
	}
	return false
}

func main() {
	kind := flag.String("kind", "tcp", "tcp (accept and close) or http (answer 200 ok)")
	flag.BoolVar(&keepAlive, "keepalive", false, "http: keep the connection of a HTTP/1.1 request without \"Connection: close\"")
	from := flag.Int("from", 0, "first target index")
	count := flag.Int("count", 10000, "targets")
	net16 := flag.String("net", "127.1", "first two octets of the targets' addresses")
	port := flag.Int("port", 8000, "port every target listens on")
	control := flag.String("control", "127.0.0.1:7999", "control API address")
	flag.Parse()
	if *kind != "tcp" && *kind != "http" {
		log.Fatalf("backends: -kind %q: want tcp or http", *kind)
	}

	l := &lab{}
	for i := *from; i < *from+*count; i++ {
		t := &target{kind: *kind, addr: addrFor(*net16, i, *port)}
		if err := l.listen(t); err != nil {
			log.Fatalf("backends: %v (raise ulimit -n, or start more processes with fewer targets)", err)
		}
		l.targets = append(l.targets, t)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{"accepts": l.accepts.Load(), "intervals_ms": l.intervals.sparse()}
		if r.URL.Query().Get("reset") != "" {
			l.accepts.Store(0)
			l.intervals.reset()
			for _, t := range l.targets {
				t.last.Store(0)
			}
		}
		json.NewEncoder(w).Encode(out)
	})
	lookup := func(r *http.Request) (*target, error) {
		i, err := strconv.Atoi(r.URL.Query().Get("i"))
		if err != nil || i < *from || i >= *from+len(l.targets) {
			return nil, fmt.Errorf("no target i=%q here", r.URL.Query().Get("i"))
		}
		return l.targets[i-*from], nil
	}
	mux.HandleFunc("/stop", func(w http.ResponseWriter, r *http.Request) {
		t, err := lookup(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		t.mu.Lock()
		if t.ln != nil {
			t.ln.Close()
			t.ln = nil
		}
		t.mu.Unlock()
		t.last.Store(0)
		io.WriteString(w, t.addr+"\n")
	})
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		t, err := lookup(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := l.listen(t); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, t.addr+"\n")
	})
	go func() { log.Fatal(http.ListenAndServe(*control, mux)) }()
	fmt.Fprintf(os.Stderr, "backends: %d %s targets from %s:%d, control %s\n", *count, *kind, addrFor(*net16, *from, *port), *port, *control)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
