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
}

func newHTTPReply(u *httpURL, maxResp int64) httpReply {
	return httpReply{u: u, maxResp: maxResp, contentLen: -1}
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
		h.consume(rest)
	} else {
		if h.total > h.maxResp {
			return false, fmt.Sprintf("response exceeds %d bytes, cut", h.maxResp)
		}
		h.consume(p)
	}
	return h.contentLen >= 0 && h.received >= h.contentLen, ""
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
