package lvs

import (
	"net/netip"
	"strconv"

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
// Keepalived resolves them); exactly one of the kind-specific parts is set, except for
// TCP_CHECK and PING_CHECK, which have none.
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

	HTTP *HTTPCheck `json:"http,omitempty"`
	Misc *MiscCheck `json:"misc,omitempty"`
	SMTP *SMTPCheck `json:"smtp,omitempty"`
	DNS  *DNSCheck  `json:"dns,omitempty"`
	UDP  *UDPCheck  `json:"udp,omitempty"`
	File *FileCheck `json:"file,omitempty"`
	BFD  *BFDCheck  `json:"bfd,omitempty"`
	GRPC *GRPCCheck `json:"grpc,omitempty"`

	retry, nbRetry *uint32
	dbr, warmup    *syntax.Duration
	delayLoop      *syntax.Duration
	alpha          *bool
	conn           *connRaw
	dropped        bool
	// smtpHosts returns the legacy SMTP host connections that become checkers of their own.
	smtpHosts func() []*connRaw
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

// HTTPCheck is the body of HTTP_GET and SSL_GET.
type HTTPCheck struct {
	// VirtualHost is sent as Host: unless a URL sets its own; default the real server's
	// virtualhost, else the virtual server's.
	VirtualHost string `json:"virtualhost,omitempty"`
	// Protocol is http_protocol: "1.0" (default), "1.1" or "1.0C" (1.0 with Connection: close).
	Protocol     string `json:"http_protocol"`
	EnableSNI    bool   `json:"enable_sni"`
	FastRecovery bool   `json:"fast_recovery"`
	// TLSCompliant (SSL_GET, Keepalived 2.2.8) shuts TLS down cleanly after each request.
	TLSCompliant bool   `json:"tls_compliant"`
	URLs         []*URL `json:"urls"`
}

// URL is one url block of an HTTP check.
type URL struct {
	Pos  syntax.Pos `json:"pos"`
	Path string     `json:"path"`
	// Digest is the expected MD5 of the body, 32 lower-case hex characters, or "".
	Digest string `json:"digest,omitempty"`
	// StatusCodes are the accepted status ranges (default 200-299).
	StatusCodes []StatusRange `json:"status_code"`
	VirtualHost string        `json:"virtualhost,omitempty"`
	// Regex, when set, must (or with RegexNoMatch must not) match the body between
	// RegexMinOffset and RegexMaxOffset (0: no bound).
	Regex string `json:"regex,omitempty"`
	// RegexPos is where regex was written (not in the JSON form).
	RegexPos       syntax.Pos `json:"-"`
	RegexNoMatch   bool       `json:"regex_no_match,omitempty"`
	RegexOptions   []string   `json:"regex_options,omitempty"`
	RegexMinOffset uint64     `json:"regex_min_offset,omitempty"`
	RegexMaxOffset uint64     `json:"regex_max_offset,omitempty"`
	RegexStack     bool       `json:"regex_stack,omitempty"`
	TLSCompliant   bool       `json:"tls_compliant,omitempty"`

	maxSet bool
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Accepts reports whether status is in one of the URL's ranges.
func (u *URL) Accepts(status int) bool {
	for _, r := range u.StatusCodes {
		if status >= r.Min && status <= r.Max {
			return true
		}
	}
	return false
}

// MiscCheck is the body of MISC_CHECK.
type MiscCheck struct {
	// Path is the command line (misc_path), as written; Args is it split into words, the
	// program first.
	Path string   `json:"misc_path"`
	Args []string `json:"args"`
	// Timeout is misc_timeout (default: the virtual server's delay loop).
	Timeout syntax.Duration `json:"misc_timeout"`
	// Dynamic: the exit code minus 2 sets the weight.
	Dynamic bool `json:"misc_dynamic"`
	// User is the "user [group]" to run the script as; empty: the global script_user.
	User string `json:"user,omitempty"`
	// PathPos and UserPos are where misc_path and user were written (not in the JSON form).
	PathPos, UserPos syntax.Pos `json:"-"`
}

// SMTPCheck is the body of SMTP_CHECK. Each legacy host block becomes a checker of its own,
// as in Keepalived.
type SMTPCheck struct {
	HeloName string `json:"helo_name"`
}

// DNSCheck is the body of DNS_CHECK.
type DNSCheck struct {
	// Type is the query type (default "SOA").
	Type string `json:"type"`
	// Name is the query name (default "", the root).
	Name string `json:"name"`
	// TypePos is where type was written (not in the JSON form).
	TypePos syntax.Pos `json:"-"`
}

// UDPCheck is the body of UDP_CHECK.
type UDPCheck struct {
	// Payload is sent in each probe; empty: a zero-length datagram.
	Payload []byte `json:"payload,omitempty"`
	// RequireReply: a reply must arrive (and match ReplyData under ReplyMask when set).
	RequireReply bool   `json:"require_reply"`
	ReplyData    []byte `json:"reply_data,omitempty"`
	// ReplyMask has one byte per ReplyData byte: 0xff must match, 0x00 is a wildcard.
	ReplyMask      []byte `json:"reply_mask,omitempty"`
	MinReplyLength uint32 `json:"min_reply_length"`
	MaxReplyLength uint32 `json:"max_reply_length"`
}

// FileCheck is the body of FILE_CHECK: the real server's weight follows a track_file block
// defined before it.
type FileCheck struct {
	TrackFile string `json:"track_file"`
	// Weight multiplies the file's value (default: the track_file's own weight and reverse).
	Weight  int32 `json:"weight"`
	Reverse bool  `json:"reverse"`

	track     *trackFileRef
	weightSet bool
}

// trackFileRef is what FILE_CHECK takes from the track_file it names.
type trackFileRef struct {
	weight  int
	reverse bool
}

// BFDCheck is the body of BFD_CHECK: the state follows a bfd_instance.
type BFDCheck struct {
	Name string `json:"name"`
}

// GRPCCheck is the body of GRPC_CHECK, a vigil extension: a grpc.health.v1 Check call.
type GRPCCheck struct {
	// Service is the service name sent in the request ("": the server as a whole).
	Service string `json:"service"`
	// TLS connects with TLS; TLSVerify checks the server's certificate (default true);
	// SNI is the TLS server name (default: none, or the address when verifying).
	TLS       bool   `json:"tls"`
	TLSVerify bool   `json:"tls_verify"`
	SNI       string `json:"sni,omitempty"`
}

func lvsItoa(v uint64) string { return strconv.FormatUint(v, 10) }
