package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// FileOptions configure a FILE_CHECK, which reads a number from a track_file.
type FileOptions struct {
	// TrackFile names the track_file block (track_file).
	TrackFile string `json:"track_file"`
	// Weight multiplies the number read (FILE_CHECK's or the track_file's weight, default 1).
	// With weight 0 the number is a verdict: 0 is healthy, anything else a failure.
	Weight int `json:"weight"`
	// Reverse negates the product, or with weight 0 swaps the verdicts.
	Reverse bool `json:"reverse"`
	// Path is the track_file's file; New finds it.
	Path string `json:"-"`
	// BaseWeight is the real server's configured weight, to which the product is added.
	BaseWeight int `json:"-"`
	// Target names the real server, for logs and status.
	Target string `json:"-"`
}

// FileKind is FILE_CHECK's block: the real server's weight follows a track_file block
// defined before it. It takes none of the shared keywords and is never retried.
var FileKind = Kind{Name: "FILE_CHECK", JSON: "file", NoRetry: true, Block: func(b *Block) Options {
	o := &FileOptions{}
	found, weightSet := false, false
	var trackWeight int
	var trackReverse bool
	b.Keywords["track_file"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		// Like Keepalived, only track_file blocks that come before the checker are known.
		ok := false
		if b.TrackFile != nil {
			trackWeight, trackReverse, ok = b.TrackFile(l.Words[1])
		}
		if !ok {
			p.Diags.Warnf(l.Pos, "track_file %s not found", l.Words[1])
			return
		}
		o.TrackFile, found = l.Words[1], true
	}}
	b.Keywords["weight"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "track file weight missing")
			return
		}
		v, ok := p.Int(l.Pos, l.Words[1], -2147483647, 2147483647)
		if !ok {
			p.Diags.Warnf(l.Pos, "weight for track file must be in [%d..%d] inclusive. Ignoring...", -2147483647, 2147483647)
			return
		}
		reverse := false
		if len(l.Words) >= 3 {
			switch l.Words[2] {
			case "reverse":
				reverse = true
			case "noreverse":
			default:
				p.Diags.Warnf(l.Pos, "unknown track file weight option %s - ignoring", l.Words[2])
				return
			}
		}
		o.Weight, o.Reverse, weightSet = int(v), reverse, true
	}}
	b.Close = func(p *syntax.Parser, end syntax.Pos) bool {
		if !found {
			p.Diags.Warnf(end, "FILE_CHECK has no track_file specified - ignoring")
			return false
		}
		if !weightSet {
			// file_end_handler: without its own weight the checker uses the track_file's.
			o.Weight, o.Reverse = trackWeight, trackReverse
		}
		return true
	}
	return o
}}

// New builds the FILE_CHECK of the track_file's file.
func (o FileOptions) New(env Env) (probe.Checker, error) {
	path, ok := "", false
	if env.TrackFile != nil {
		path, ok = env.TrackFile(o.TrackFile)
	}
	if !ok {
		return nil, fmt.Errorf("FILE_CHECK: track_file %q is not defined", o.TrackFile)
	}
	o.Path, o.BaseWeight, o.Target = path, env.Weight, env.target()
	return NewFile(o), nil
}

// FileChecker reads a track_file as Keepalived's FILE_CHECK does. It keeps the last number read,
// since Keepalived ignores a number out of range and keeps the previous one.
type FileChecker struct {
	opts FileOptions
	key  string

	mu   sync.Mutex
	last int64
}

// NewFile returns a FILE_CHECK for opts.
func NewFile(opts FileOptions) *FileChecker {
	k := "FILE_CHECK " + strconv.Quote(opts.Path) + " weight=" + strconv.Itoa(opts.Weight) + " base=" + strconv.Itoa(opts.BaseWeight)
	if opts.Reverse {
		k += " reverse"
	}
	return &FileChecker{opts: opts, key: k}
}

// Kind is "FILE_CHECK".
func (c *FileChecker) Kind() string { return "FILE_CHECK" }

// Target is the real server.
func (c *FileChecker) Target() string { return c.opts.Target }

// Key is the file and how its number is weighed.
func (c *FileChecker) Key() string { return c.key }

// faultWeight is Keepalived's IPVS_WEIGHT_FAULT: a product at or below it is a failure.
const faultWeight = math.MinInt32

// Check reads the file. As in Keepalived: a missing, unreadable or empty file, or text without
// a number, reads as 0; the number is C's strtol of the first 127 bytes (decimal, 0x hex or 0
// octal, leading blanks and sign allowed, trailing text ignored); a number outside
// [-2^31, 2^31] is ignored and the previous one kept. With weight 0 the verdict is the number's
// (0 healthy); otherwise the product number*weight (negated by reverse), clamped to 32 bits, is
// a failure at -2^31 or below and otherwise healthy with weight BaseWeight+product (at least 0).
func (c *FileChecker) Check(ctx context.Context) probe.Result {
	start := time.Now()
	v, note := c.read()
	res := probe.Result{Weight: -1, Latency: time.Since(start)}
	reverse := c.opts.Reverse
	if c.opts.Weight == 0 {
		res.Healthy = (v == 0) != reverse
		res.Reason = "file value " + strconv.FormatInt(v, 10) + note
		return res
	}
	product := v * int64(c.opts.Weight)
	if reverse {
		product = -product
	}
	product = max(min(product, math.MaxInt32), math.MinInt32)
	res.Reason = "file value " + strconv.FormatInt(v, 10) + ", weight change " + strconv.FormatInt(product, 10) + note
	if product <= faultWeight {
		return res
	}
	res.Healthy = true
	res.Weight = int(max(int64(c.opts.BaseWeight)+product, 0))
	return res
}

// read returns the number to use and a note for the reason.
func (c *FileChecker) read() (int64, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := os.OpenFile(c.opts.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		c.last = 0
		if errors.Is(err, fs.ErrNotExist) {
			return 0, " (file missing)"
		}
		return 0, " (" + err.Error() + ")"
	}
	defer f.Close()
	buf := make([]byte, 127)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		c.last = 0
		return 0, " (" + err.Error() + ")"
	}
	v, ok := strtol(string(buf[:n]))
	if !ok || v < math.MinInt32 || v > math.MaxInt32+1 {
		return c.last, " (ignored invalid number " + strconv.Quote(string(buf[:n])) + ")"
	}
	c.last = v
	return v, ""
}

// strtol is C's strtol(s, NULL, 0) on a 64-bit long: ok is false on overflow.
func strtol(s string) (int64, bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	if i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && hexDigit(s[i+2]) >= 0 {
		base, i = 16, i+2
	} else if i < len(s) && s[i] == '0' {
		base = 8
	}
	var v uint64
	overflow := false
	for ; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			overflow = true
		}
		v = v*base + uint64(d)
	}
	if overflow || (!neg && v > math.MaxInt64) || (neg && v > 1<<63) {
		return 0, false
	}
	if neg {
		return int64(-v), true
	}
	return int64(v), true
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
