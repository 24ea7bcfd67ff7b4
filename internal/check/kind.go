package check

import (
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/probe"
)

// Kind is one kind of checker block of a real_server (TCP_CHECK, HTTP_GET...): which of the
// keywords every checker shares it takes, its retry defaults, and the keyword table of its own
// body, which reads the block straight into the options its checker runs with. Package
// config/lvs lists the kinds a real_server accepts and reads the shared keywords; everything
// else about a kind is here, in the kind's own file.
type Kind struct {
	// Name is the block's keyword, which is also what the checker's Kind method returns.
	Name string
	// JSON is the key under which `vigil dump-config` shows the options, "http" for HTTP_GET;
	// options that marshal to {} are left out.
	JSON string
	// Shared says which of the shared keywords the block takes.
	Shared SharedKeywords
	// Defaults, when set, are the retry and delay_before_retry of a checker whose block and
	// servers set neither, given its delay_loop; nil means Keepalived's usual 1 and 1 s.
	Defaults func(delayLoop time.Duration) (retry uint32, delayBeforeRetry time.Duration)
	// NoRetry: the checker is never retried, whatever its servers say (FILE_CHECK).
	NoRetry bool
	// Block starts reading one block: it adds the kind's keywords to b.Keywords, may set b.Close
	// and b.Resolve, and returns the options the keywords fill.
	Block func(b *Block) Options
}

// SharedKeywords are the groups of keywords that every kind may take, which package config/lvs
// reads into lvs.Checker.
type SharedKeywords uint8

const (
	// Timing: retry, delay_before_retry, warmup, delay_loop, alpha, log_all_failures.
	Timing SharedKeywords = 1 << iota
	// Connection: connect_ip, connect_port, bindto, bind_port, bind_if, connect_timeout and
	// fwmark, which become the ConnOptions of Env.
	Connection
	// AlphaOnly: alpha, and nothing else of Timing (BFD_CHECK).
	AlphaOnly
	// HostBlocks: SMTP_CHECK's legacy host blocks, each a connection of a checker of its own.
	HostBlocks
)

// Block is one checker block being read, as its kind's Block function sees it.
type Block struct {
	// Keywords is the block's table; the shared keywords are in it already.
	Keywords map[string]syntax.Keyword
	// Close, when the kind sets it, runs at the block's end (after the shared keywords' own
	// checks, and only when those keep the checker) and says whether the checker is kept; a kind
	// that drops it has said why.
	Close func(p *syntax.Parser, end syntax.Pos) (keep bool)
	// Resolve, when the kind sets it, runs once the whole section is read, with what the block
	// inherits from the servers around it.
	Resolve func(s Server)
	// Server names the real server in messages, as Keepalived does: "[10.0.0.2]:tcp:80".
	Server string
	// SetRetry sets the checker's retry, for a kind that reads it under another name
	// (HTTP_GET's deprecated nb_get_retry).
	SetRetry func(retry uint32)
	// SetAlpha sets the checker's alpha, for a kind that takes it without Timing.
	SetAlpha func(alpha bool)
	// TrackFile finds a track_file block defined before this one (FILE_CHECK).
	TrackFile func(name string) (weight int, reverse bool, ok bool)
}

// Server is what a checker block inherits from the servers around it, once they are read.
type Server struct {
	// VirtualHost is the real server's virtualhost, else the virtual server's.
	VirtualHost string
	// DelayLoop is the virtual server's delay_loop.
	DelayLoop time.Duration
}

// Options are a checker block's own settings, as its kind's table read them. Both `vigil -t`
// and start build the checker from the same value, so whatever one refuses the other does.
// Options are not changed once the section is read: New works on a copy.
type Options interface {
	// New builds the checker, with what env says of the process and the server around it.
	New(env Env) (probe.Checker, error)
}

// OwnTimeout is implemented by options whose probe is bounded by a timeout of their own rather
// than connect_timeout (MISC_CHECK's misc_timeout).
type OwnTimeout interface {
	ProbeTimeout() time.Duration
}

// Env is what building a checker takes from outside its block.
type Env struct {
	// Conn is where the probe connects and from where (the Connection keywords, defaults
	// applied); zero for kinds without them.
	Conn ConnOptions
	// Server is the real server checked, and Weight its configured weight.
	Server netip.AddrPort
	Weight int
	// Runner runs MISC_CHECK scripts. CheckScript, when set, checks a script as Runner will
	// run it and records what it finds, at pos, for keyword.
	Runner      ScriptRunner
	CheckScript func(pos syntax.Pos, keyword string, s notify.Script)
	// Pinger returns the shared ICMP socket of addr's family (PING_CHECK).
	Pinger func(addr netip.Addr) (Pinger, error)
	// TrackFile returns the file of the track_file block called name (FILE_CHECK).
	TrackFile func(name string) (path string, ok bool)
}

// target names the real server for logs and status: "192.0.2.10:80".
func (e Env) target() string { return e.Server.String() }
