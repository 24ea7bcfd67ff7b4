package main

import (
	"bytes"
	"encoding/json"
	"errors"
	stdlog "log"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// syslogSink is a unixgram socket standing in for /dev/log.
type syslogSink struct {
	path string
	conn *net.UnixConn
}

func newSyslogSink(t *testing.T) *syslogSink {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-log") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &syslogSink{path: path, conn: conn}
}

func (s *syslogSink) dial(facility syslog.Priority, tag string) (*syslog.Writer, error) {
	return syslog.Dial("unixgram", s.path, facility|syslog.LOG_INFO, tag)
}

// next reads one datagram, or fails the test after a second.
func (s *syslogSink) next(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 8192)
	s.conn.SetReadDeadline(time.Now().Add(time.Second))
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatalf("no syslog datagram: %v", err)
	}
	return string(buf[:n])
}

// none asserts that nothing more arrives within a short while.
func (s *syslogSink) none(t *testing.T) {
	t.Helper()
	buf := make([]byte, 8192)
	s.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := s.conn.Read(buf); err == nil {
		t.Fatalf("unexpected syslog datagram %q", buf[:n])
	}
}

func TestSyslogFacilityAndPriorityFollowLevel(t *testing.T) {
	sink := newSyslogSink(t)
	var stderr bytes.Buffer
	log, closeLog, err := newLoggerWith(options{logFacility: "3", logDetail: true}, nil, &stderr, sink.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	// local3 is facility 19: priority 19*8 + severity.
	cases := []struct {
		log  func(msg string, args ...any)
		msg  string
		want string
	}{
		{log.Error, "cannot start", "<155>"},
		{log.Warn, "server down", "<156>"},
		{log.Info, "reloaded", "<158>"},
		{log.Debug, "probe", "<159>"},
	}
	for _, c := range cases {
		c.log(c.msg, "vs", "192.0.2.1:80")
		got := sink.next(t)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%q: datagram %q, want priority %s", c.msg, got, c.want)
		}
		if !strings.Contains(got, "vigil[") || !strings.Contains(got, "msg=\""+c.msg+"\"") && !strings.Contains(got, "msg="+c.msg) {
			t.Errorf("%q: datagram %q lacks the tag or the message", c.msg, got)
		}
		if !strings.Contains(got, "vs=192.0.2.1:80") {
			t.Errorf("%q: datagram %q lacks the attribute", c.msg, got)
		}
		if strings.Contains(got, "time=") {
			t.Errorf("%q: datagram %q repeats the time syslog stamps", c.msg, got)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("without -l nothing goes to stderr; got %q", stderr.String())
	}
}

func TestSyslogWithoutDetailDropsDebugAndKeepsDerivedAttributes(t *testing.T) {
	sink := newSyslogSink(t)
	log, closeLog, err := newLoggerWith(options{logFacility: "0"}, nil, &bytes.Buffer{}, sink.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log.Debug("not shown")
	sink.none(t)
	log.With("half", "vrrp").WithGroup("g").Info("state", "to", "MASTER")
	got := sink.next(t)
	if !strings.HasPrefix(got, "<134>") || !strings.Contains(got, "half=vrrp") || !strings.Contains(got, "g.to=MASTER") {
		t.Errorf("datagram %q, want local0.info with half=vrrp g.to=MASTER", got)
	}
}

func TestSyslogJSONFormat(t *testing.T) {
	sink := newSyslogSink(t)
	log, closeLog, err := newLoggerWith(options{logFacility: "7", logFormat: "json"}, nil, &bytes.Buffer{}, sink.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log.Warn("quorum lost", "vs", "x")
	got := sink.next(t)
	if !strings.HasPrefix(got, "<188>") || !strings.Contains(got, `{"level":"WARN","msg":"quorum lost","vs":"x"}`) {
		t.Errorf("datagram %q, want local7.warning with a JSON body", got)
	}
}

func TestLogConsoleKeepsStderrBesideSyslog(t *testing.T) {
	sink := newSyslogSink(t)
	var stderr bytes.Buffer
	log, closeLog, err := newLoggerWith(options{logFacility: "1", logConsole: true}, nil, &stderr, sink.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log.Info("both ways")
	if got := sink.next(t); !strings.Contains(got, "both ways") {
		t.Errorf("syslog got %q", got)
	}
	if !strings.Contains(stderr.String(), "both ways") {
		t.Errorf("stderr got %q", stderr.String())
	}
}

func TestNoSyslogSocketFallsBackToStderrWithOneWarning(t *testing.T) {
	var stderr bytes.Buffer
	failing := func(syslog.Priority, string) (*syslog.Writer, error) {
		return nil, errors.New("dial unixgram /dev/log: no such file or directory")
	}
	log, closeLog, err := newLoggerWith(options{logFacility: "2"}, nil, &stderr, failing)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log.Info("first")
	log.Info("second")
	out := stderr.String()
	if n := strings.Count(out, "syslog unavailable"); n != 1 {
		t.Errorf("%d warnings about syslog, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "first") || !strings.Contains(out, "second") {
		t.Errorf("records did not reach stderr:\n%s", out)
	}
}

func TestWithoutFacilityLogsToStderrOnly(t *testing.T) {
	var stderr bytes.Buffer
	dialed := false
	log, closeLog, err := newLoggerWith(options{}, nil, &stderr, func(syslog.Priority, string) (*syslog.Writer, error) {
		dialed = true
		return nil, errors.New("unused")
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log.Info("hello")
	if dialed || !strings.Contains(stderr.String(), "hello") {
		t.Errorf("dialed syslog %v; stderr %q", dialed, stderr.String())
	}
}

func TestLogFacilityOutsideZeroToSevenIsRefused(t *testing.T) {
	for _, s := range []string{"8", "-1", "local3", "daemon"} {
		if _, _, err := newLoggerWith(options{logFacility: s}, nil, &bytes.Buffer{}, newSyslogSink(t).dial); err == nil {
			t.Errorf("-S %s accepted", s)
		} else if !strings.Contains(err.Error(), s) {
			t.Errorf("-S %s: error %q does not name the input", s, err)
		}
	}
}

func TestLibraryLinesComeOutThroughSlog(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() {
		slog.SetDefault(old)
		stdlog.SetOutput(os.Stderr)
		stdlog.SetFlags(stdlog.LstdFlags)
	})
	var buf bytes.Buffer
	useLogger(newLogger(options{logFormat: "json"}, nil, &buf))
	// What net/http writes when it has no ErrorLog, and what gRPC's errors look like.
	stdlog.Printf("http: Accept error: accept tcp 127.0.0.1:9080: accept4: too many open files; retrying in 5ms")
	grpcLogger{}.Errorf("[core] failed to connect to %s", "127.0.0.1:50051")
	grpcLogger{}.Infof("[core] a line gRPC keeps to itself unless asked")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (gRPC's info is a debug line):\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line not JSON: %s", l)
		}
	}
	if !strings.Contains(lines[0], `"msg":"http: Accept error`) || !strings.Contains(lines[1], `"part":"grpc"`) {
		t.Fatalf("lines:\n%s", buf.String())
	}
}
