package check

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// httpReply reads one URL's response as it arrives, in pieces of any size, for both ways of
// probing: the goroutine of an SSL_GET (checkURL) and the scheduler's poller for a plain
// HTTP_GET, which reads whatever the socket holds when it is woken. The status line and headers
// must end within maxHTTPHeader bytes; the body streams through the digest and is kept only when
// a regex must see it; maxResp bounds the whole response.
type httpReply struct {
	u       *httpURL
	maxResp int64
	// head gathers the status line and headers while they arrive in several pieces; a header
	// that comes whole in one piece is read where it lies.
	head       []byte
	headDone   bool
	status     int
	contentLen int64 // -1 when the header gives none
	total      int64 // bytes fed, header included
	received   int64 // body bytes counted towards contentLen
	digest     hash.Hash
	body       []byte
	// headerReason says which of the URL's header expectations the response fails.
	headerReason string

	// A reply on a connection that reuse_connection keeps ends where its framing says, never
	// at the connection's end, which does not come.
	framed   bool
	headReq  bool      // the request was a HEAD: no body, whatever the header says
	bodyless bool      // a HEAD's answer, 1xx, 204 or 304: the header is all of it
	chunked  bool      // the body is chunked (Transfer-Encoding), its end found by chunks
	chunks   chunkScan //
	closes   bool      // the server ends the connection after this reply
	trailing bool      // bytes came after the reply's end
}

func newHTTPReply(u *httpURL, maxResp int64) httpReply {
	return httpReply{u: u, maxResp: maxResp, contentLen: -1}
}

// newReply starts reading the answer to u's request, framed when the connection is kept.
func (c *HTTPChecker) newReply(u *httpURL) httpReply {
	r := newHTTPReply(u, c.maxResp)
	if c.opts.ReuseConnection {
		r.framed, r.headReq = true, strings.EqualFold(u.Method, "HEAD")
	}
	return r
}

// step names what is being read, for a failure's reason.
func (h *httpReply) step() string {
	if h.headDone {
		return "read body"
	}
	return "read response"
}

// feed takes the next bytes of the response. It returns done once the body is complete
// (Content-Length reached), and a non-empty reason when the response has already failed (too
// large). p is not kept.
func (h *httpReply) feed(p []byte) (done bool, reason string) {
	h.total += int64(len(p))
	if !h.headDone {
		var rest []byte
		if p, rest = h.gatherHead(p); p == nil {
			if len(h.head) >= maxHTTPHeader {
				return false, fmt.Sprintf("response header exceeds %d bytes", maxHTTPHeader)
			}
			return false, ""
		}
		h.headDone = true
		h.status = parseStatusCode(p)
		h.contentLen = parseContentLength(p)
		h.head = nil
		if h.u.Digest != "" {
			h.digest = md5.New()
		}
		if len(h.u.ExpectHeaders) > 0 {
			h.headerReason = headerExpectations(h.u.ExpectHeaders, func(name string) []string { return headerValues(p, name) })
		}
		if h.total > h.maxResp {
			return false, fmt.Sprintf("response exceeds %d bytes, cut", h.maxResp)
		}
		if h.framed {
			h.frame(p)
		}
		if h.bodyless {
			h.trailing = len(rest) > 0
		} else {
			h.consume(rest)
		}
	} else {
		if h.total > h.maxResp {
			return false, fmt.Sprintf("response exceeds %d bytes, cut", h.maxResp)
		}
		h.consume(p)
	}
	if h.chunks.bad {
		return false, "read body: malformed chunked encoding"
	}
	return h.complete(), ""
}

// complete reports whether the whole reply has come, by its framing; a reply without one ends
// with the connection (eof).
func (h *httpReply) complete() bool {
	switch {
	case h.bodyless:
		return h.headDone
	case h.chunked:
		return h.chunks.done
	}
	return h.contentLen >= 0 && h.received >= h.contentLen
}

// frame reads from head how the reply on a kept connection ends (RFC 9112 section 6.3), and
// whether the connection may carry another request after it.
func (h *httpReply) frame(head []byte) {
	h.closes = bytes.HasPrefix(head, []byte("HTTP/1.0"))
	for _, v := range headerValues(head, "Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				h.closes = true
			}
		}
	}
	switch {
	case h.headReq || h.status == 204 || h.status == 304:
		h.bodyless = true
		return
	case h.status >= 100 && h.status < 200:
		// An interim answer nobody asked for (no Expect was sent): judged as it is, and the
		// connection, whose final answer would follow, is not kept.
		h.bodyless, h.closes = true, true
		return
	}
	if te := headerValues(head, "Transfer-Encoding"); len(te) > 0 {
		codings := strings.Split(te[len(te)-1], ",")
		if strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked") {
			h.chunked, h.contentLen = true, -1
			return
		}
		h.contentLen, h.closes = -1, true // the body ends with the connection
		return
	}
	if h.contentLen < 0 {
		h.closes = true
	}
}

// reusable reports whether the connection of a complete reply may carry the next request: it
// is kept (framed), the server did not say it closes it, and nothing came after the reply.
func (h *httpReply) reusable() bool {
	return h.framed && !h.closes && !h.trailing && h.complete()
}

// parsedHead takes a response whose status and headers came already parsed (HTTP/2): what follows
// is the body, read to its end.
func (h *httpReply) parsedHead(status int, values func(name string) []string) {
	h.headDone, h.status = true, status
	if h.u.Digest != "" {
		h.digest = md5.New()
	}
	if len(h.u.ExpectHeaders) > 0 {
		h.headerReason = headerExpectations(h.u.ExpectHeaders, values)
	}
}

// gatherHead returns the complete status line and headers, with the body bytes that followed
// them in p, or a nil header while the end of the headers has not arrived.
func (h *httpReply) gatherHead(p []byte) (head, rest []byte) {
	const end = "\r\n\r\n"
	if len(h.head) == 0 {
		if i := bytes.Index(p, []byte(end)); i >= 0 && i+len(end) <= maxHTTPHeader {
			return p[:i+len(end)], p[i+len(end):]
		}
	}
	from := max(0, len(h.head)-len(end)+1)
	h.head = append(h.head, p...)
	i := bytes.Index(h.head[from:], []byte(end))
	if i < 0 || from+i+len(end) > maxHTTPHeader {
		return nil, nil
	}
	n := from + i + len(end)
	return h.head[:n], h.head[n:]
}

func (h *httpReply) consume(p []byte) {
	if h.contentLen >= 0 && h.received+int64(len(p)) > h.contentLen {
		p = p[:h.contentLen-h.received]
		h.trailing = true
	}
	if h.chunked {
		// The body is hashed and matched with its framing, as without reuse_connection.
		n := h.chunks.scan(p)
		h.trailing = h.trailing || n < len(p)
		p = p[:n]
	}
	h.received += int64(len(p))
	if h.digest != nil {
		h.digest.Write(p)
	}
	if h.u.Regex != nil {
		h.body = append(h.body, p...)
	}
}

// eof is the server closing the connection: the end of a body without Content-Length, or a
// failure when the header is not complete.
func (h *httpReply) eof() (reason string) {
	switch {
	case h.headDone:
		return ""
	case h.total == 0:
		return "read response: no data received"
	default:
		return "read response: connection closed inside the header"
	}
}

// verdict judges the complete response against the URL's status codes, digest and regex: ""
// when it passes.
func (h *httpReply) verdict() string {
	u := h.u
	if !statusAccepted(u.StatusCodes, h.status) {
		if h.status == 0 {
			return "no HTTP status in response, expected " + u.codes
		}
		return "HTTP status " + strconv.Itoa(h.status) + ", expected " + u.codes
	}
	if h.headerReason != "" {
		return h.headerReason
	}
	if h.digest != nil {
		var sum [md5.Size]byte
		h.digest.Sum(sum[:0])
		if sum != u.digest {
			return "MD5 digest " + hex.EncodeToString(sum[:]) + ", expected " + strings.ToLower(u.Digest)
		}
	}
	if u.Regex != nil {
		matched := regexMatches(u, h.body)
		if matched == u.RegexNoMatch {
			if matched {
				return fmt.Sprintf("body matches regex %q (regex_no_match)", u.Regex.String())
			}
			return fmt.Sprintf("body does not match regex %q", u.Regex.String())
		}
	}
	return ""
}

// headerExpectations says which of expects the headers that values gives fail, or "" when
// every one holds.
func headerExpectations(expects []HeaderExpect, values func(name string) []string) string {
	for _, e := range expects {
		vs := values(e.Name)
		if len(vs) == 0 {
			return e.String() + ": no such header in the response"
		}
		if e.Value == "" && e.Regex == nil {
			continue
		}
		met := false
		for _, v := range vs {
			if e.Regex != nil && e.Regex.MatchString(v) || e.Regex == nil && v == e.Value {
				met = true
				break
			}
		}
		if !met {
			got := vs[0]
			if len(got) > 64 {
				got = got[:64] + "..."
			}
			return fmt.Sprintf("%s: the response has %q", e, e.Name+": "+got)
		}
	}
	return ""
}

// headerValues returns the values of the header fields called name (case-insensitive) in
// head, an HTTP/1 status line and header block, each trimmed of the blanks around it, in the
// order they come, folded lines joined. A line without a colon, and the status line, are no
// fields.
func headerValues(head []byte, name string) []string {
	var out []string
	first, matched := true, false
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if first {
			first = false
			continue
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			// An obsolete folded line continues the field before it (RFC 9112 section 5.2).
			if matched {
				last := &out[len(out)-1]
				*last = strings.TrimSpace(*last + " " + string(bytes.Trim(line, " \t")))
			}
			continue
		}
		n, v, ok := bytes.Cut(line, []byte(":"))
		matched = ok && len(n) == len(name) && bytes.EqualFold(n, []byte(name))
		if matched {
			out = append(out, string(bytes.Trim(v, " \t")))
		}
	}
	return out
}

// chunkScan finds the end of a chunked body (RFC 9112 section 7.1) as its bytes arrive: the
// last chunk, of size zero, and the trailer section after it, ended by an empty line.
type chunkScan struct {
	state   uint8
	size    int64 // the chunk's size while its size line is read; then the bytes left of it
	digits  int   // hex digits of the size line read
	lineLen int   // bytes of the trailer line read
	done    bool  // the body has ended
	bad     bool  // the framing is broken
}

const (
	chunkSize    = iota // the hex size
	chunkExt            // an extension, up to the line's end
	chunkData           // the chunk's data
	chunkDataEnd        // the CRLF after the data
	chunkTrailer        // the trailer section's lines
)

// maxChunkDigits bounds a chunk size's hex digits, so that the size cannot overflow.
const maxChunkDigits = 15

// scan reads p and returns how many of its bytes belong to the body: all of them until its end.
func (c *chunkScan) scan(p []byte) int {
	for i := 0; i < len(p); i++ {
		if c.done || c.bad {
			return i
		}
		b := p[i]
		switch c.state {
		case chunkSize:
			switch {
			case isHexDigit(b):
				if c.digits++; c.digits > maxChunkDigits {
					c.bad = true
					continue
				}
				c.size = c.size<<4 | int64(unhex(b))
			case b == ';' || b == ' ' || b == '\t':
				c.state = chunkExt
			case b == '\r':
			case b == '\n':
				c.endSizeLine()
			default:
				c.bad = true
			}
		case chunkExt:
			if b == '\n' {
				c.endSizeLine()
			}
		case chunkData:
			n := min(int64(len(p)-i), c.size)
			c.size -= n
			i += int(n) - 1
			if c.size == 0 {
				c.state = chunkDataEnd
			}
		case chunkDataEnd:
			switch b {
			case '\r':
			case '\n':
				c.state, c.digits = chunkSize, 0
			default:
				c.bad = true
			}
		case chunkTrailer:
			switch b {
			case '\r':
			case '\n':
				c.done = c.lineLen == 0
				c.lineLen = 0
			default:
				c.lineLen++
			}
		}
	}
	return len(p)
}

// endSizeLine moves on past a chunk's size line.
func (c *chunkScan) endSizeLine() {
	switch {
	case c.digits == 0:
		c.bad = true
	case c.size == 0:
		c.state, c.lineLen = chunkTrailer, 0
	default:
		c.state = chunkData
	}
}

// unhex is the value of the hex digit b.
func unhex(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}
