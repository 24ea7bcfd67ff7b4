package lvs

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Checker kinds, named by their configuration keyword.
const (
	CheckTCP  = "TCP_CHECK"
	CheckHTTP = "HTTP_GET"
	CheckSSL  = "SSL_GET"
	CheckMisc = "MISC_CHECK"
	CheckSMTP = "SMTP_CHECK"
	CheckDNS  = "DNS_CHECK"
	CheckPing = "PING_CHECK"
	CheckUDP  = "UDP_CHECK"
	CheckFile = "FILE_CHECK"
	CheckBFD  = "BFD_CHECK"
	// CheckGRPC is a vigil extension: a gRPC health-checking-protocol probe.
	CheckGRPC = "GRPC_CHECK"
)

// Checker is one checker block inside a real_server. The fields common to every kind hold
// effective values (inherited from the real server and virtual server, or the kind's default, as
// Keepalived resolves them); Options holds what is the kind's own.
type Checker struct {
	Pos  syntax.Pos `json:"pos"`
	Kind string     `json:"kind"`
	// Connection is where the probe goes; nil for MISC_CHECK, FILE_CHECK and BFD_CHECK.
	Connection *Connection `json:"connection"`
	// Retry is the number of failures in a row tolerated before the server is marked down
	// (default 1; MISC_CHECK 0; DNS_CHECK 3).
	Retry uint32 `json:"retry"`
	// DelayBeforeRetry is the interval after a failure (default 1 s; HTTP_GET and SSL_GET 3 s;
	// DNS_CHECK the delay loop).
	DelayBeforeRetry syntax.Duration `json:"delay_before_retry"`
	// Warmup is the longest random delay before the first check (default: the delay loop).
	Warmup    syntax.Duration `json:"warmup"`
	DelayLoop syntax.Duration `json:"delay_loop"`
	// Alpha: the checker starts as failed.
	Alpha          bool `json:"alpha"`
	LogAllFailures bool `json:"log_all_failures"`
	// Rise, DownDelayLoop and TransitionDelayLoop are vigil extensions resolved from the real
	// server (intervals of 0 there mean this checker's DelayLoop).
	Rise                uint32          `json:"rise"`
	DownDelayLoop       syntax.Duration `json:"down_delay_loop"`
	TransitionDelayLoop syntax.Duration `json:"transition_delay_loop"`

	// Options are the block's own settings, read by its kind's table in package check into
	// the options its checker runs with (check.HTTPOptions for HTTP_GET...); JSON shows them
	// under the kind's key ("http"), as MarshalJSON says.
	Options check.Options `json:"-"`

	kind           check.Kind
	resolveOptions func(check.Server)
	retry          *uint32
	dbr, warmup    *syntax.Duration
	delayLoop      *syntax.Duration
	alpha          *bool
	conn           *connRaw
	// hosts returns the legacy SMTP host connections that become checkers of their own.
	hosts func() []*connRaw
}

// Connection is where a checker connects and from where.
type Connection struct {
	// Address and Port default to the real server's.
	Address netip.Addr `json:"connect_ip"`
	Port    uint16     `json:"connect_port"`
	// BindAddress and BindPort are the source (bindto, bind_port); zero when not set.
	BindAddress netip.Addr `json:"bindto,omitzero"`
	BindPort    uint16     `json:"bind_port,omitempty"`
	BindIf      string     `json:"bind_if,omitempty"`
	// Timeout is connect_timeout (default: the real server's, itself defaulting to 5 s).
	Timeout syntax.Duration `json:"connect_timeout"`
	// Fwmark marks the probe's packets (SO_MARK); 0 means none.
	Fwmark uint32 `json:"fwmark,omitempty"`
}

// connRaw is a Connection as written, before defaults.
type connRaw struct {
	addr     netip.Addr
	port     uint16
	bind     netip.Addr
	bindPort uint16
	bindIf   string
	timeout  *syntax.Duration
	fwmark   uint32
	pos      syntax.Pos
}

// MarshalJSON writes the checker with its options under its kind's key ("http", "misc"...),
// after the shared fields, as the model had them before the options moved to package check;
// options that marshal to {} (a TCP_CHECK without vigil's keywords) are left out.
func (c Checker) MarshalJSON() ([]byte, error) {
	type shared Checker // the fields without this method
	b, err := json.Marshal(shared(c))
	if err != nil || c.Options == nil || c.kind.JSON == "" {
		return b, err
	}
	opts, err := json.Marshal(c.Options)
	if err != nil {
		return nil, fmt.Errorf("%s options: %w", c.Kind, err)
	}
	if string(opts) == "{}" || string(opts) == "null" {
		return b, nil
	}
	key, _ := json.Marshal(c.kind.JSON)
	out := make([]byte, 0, len(b)+len(key)+len(opts)+2)
	out = append(out, b[:len(b)-1]...)
	out = append(out, ',')
	out = append(out, key...)
	out = append(out, ':')
	out = append(out, opts...)
	return append(out, '}'), nil
}
