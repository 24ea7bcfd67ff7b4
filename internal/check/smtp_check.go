package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// DefaultHeloName is the name a SMTP_CHECK greets with when helo_name is not set.
const DefaultHeloName = "smtpchecker.keepalived.org"

// smtpMaxLine and smtpMaxReply bound what a SMTP server may send in one reply.
const (
	smtpMaxLine  = 1024
	smtpMaxReply = 16 << 10
)

// SMTPOptions configure a SMTP_CHECK.
type SMTPOptions struct {
	ConnOptions `json:"-"`
	// HeloName is sent with HELO (helo_name); empty means DefaultHeloName.
	HeloName string `json:"helo_name"`
}

// SMTPKind is SMTP_CHECK's block. Its legacy host blocks, each a connection that becomes a
// checker of its own, are read by package config/lvs with the other shared keywords.
var SMTPKind = Kind{Name: "SMTP_CHECK", JSON: "smtp", Shared: Timing | Connection | HostBlocks, Block: func(b *Block) Options {
	o := &SMTPOptions{HeloName: DefaultHeloName}
	b.Keywords["helo_name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "SMTP_CHECK helo name missing")
			return
		}
		o.HeloName = l.Words[1]
	}}
	return o
}}

// New builds the SMTP_CHECK.
func (o SMTPOptions) New(env Env) (probe.Checker, error) {
	o.ConnOptions = env.Conn
	return NewSMTP(o)
}

// SMTPChecker is Keepalived's SMTP_CHECK: connect, expect a 220 greeting, send HELO, expect 250,
// send QUIT and read its reply. Unlike Keepalived, which reads one line, multi-line replies
// ("220-...", "220 ...") are understood; every reply is bounded.
type SMTPChecker struct {
	dialer *net.Dialer
	addr   string
	key    string
	helo   []byte
}

// NewSMTP returns a SMTP_CHECK of opts.Addr. It fails when the HELO name holds a line break.
func NewSMTP(opts SMTPOptions) (*SMTPChecker, error) {
	name := opts.HeloName
	if name == "" {
		name = DefaultHeloName
	}
	addr := opts.Addr.String()
	if strings.ContainsAny(name, "\r\n\x00") {
		return nil, fmt.Errorf("SMTP_CHECK %s: helo_name %q holds a line break or NUL", addr, name)
	}
	return &SMTPChecker{
		dialer: opts.dialer("tcp"),
		addr:   addr,
		key:    "SMTP_CHECK " + addr + " helo=" + name + opts.keySuffix(),
		helo:   []byte("HELO " + name + "\r\n"),
	}, nil
}

// Kind returns "SMTP_CHECK".
func (c *SMTPChecker) Kind() string { return "SMTP_CHECK" }

// Target returns the address probed.
func (c *SMTPChecker) Target() string { return c.addr }

// Key returns "SMTP_CHECK <addr> helo=<name>[ bind=..][ if=..][ mark=..]".
func (c *SMTPChecker) Key() string { return c.key }

// Check holds the SMTP conversation.
func (c *SMTPChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return probeResult(start, false, failReason(ctx, "connect", err))
	}
	defer conn.Close()
	stop := bindConn(ctx, conn)
	defer stop()
	r := bufio.NewReaderSize(conn, smtpMaxLine)

	code, err := readSMTPReply(r)
	if err != nil {
		return probeResult(start, false, failReason(ctx, "read greeting", err))
	}
	if code != 220 {
		return probeResult(start, false, fmt.Sprintf("greeting %d, expected 220", code))
	}
	if _, err := conn.Write(c.helo); err != nil {
		return probeResult(start, false, failReason(ctx, "send HELO", err))
	}
	code, err = readSMTPReply(r)
	if err != nil {
		return probeResult(start, false, failReason(ctx, "read HELO reply", err))
	}
	if code != 250 {
		return probeResult(start, false, fmt.Sprintf("HELO reply %d, expected 250", code))
	}
	if _, err := conn.Write([]byte("QUIT\r\n")); err != nil {
		return probeResult(start, false, failReason(ctx, "send QUIT", err))
	}
	// Any reply to QUIT will do, and so will the server hanging up.
	if _, err := readSMTPReply(r); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errSMTPSyntax) {
		return probeResult(start, false, failReason(ctx, "read QUIT reply", err))
	}
	return probeResult(start, true, "SMTP greeting 220, HELO 250")
}

// errSMTPSyntax reports a reply line that is not "NNN", "NNN text" or "NNN-text".
var errSMTPSyntax = errors.New("malformed SMTP reply")

// readSMTPReply reads one possibly multi-line reply and returns its code.
func readSMTPReply(r *bufio.Reader) (int, error) {
	total := 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, fmt.Errorf("reply line exceeds %d bytes", smtpMaxLine)
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		total += len(line)
		if total > smtpMaxReply {
			return 0, fmt.Errorf("reply exceeds %d bytes", smtpMaxReply)
		}
		if len(line) < 4 {
			return 0, fmt.Errorf("%w: %q", errSMTPSyntax, line)
		}
		code, perr := strconv.Atoi(string(line[:3]))
		if perr != nil || code < 100 || code > 599 {
			return 0, fmt.Errorf("%w: %q", errSMTPSyntax, line)
		}
		switch line[3] {
		case '-':
			continue
		case ' ', '\r', '\n':
			return code, nil
		default:
			return 0, fmt.Errorf("%w: %q", errSMTPSyntax, line)
		}
	}
}
