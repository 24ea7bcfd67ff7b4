package check

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHTTPReplyJudgesTheSameWhateverThePieces: a response fed in pieces of every size from one
// byte to the whole gives the verdict it gives when fed whole, the one the table expects.
func TestHTTPReplyJudgesTheSameWhateverThePieces(t *testing.T) {
	body := "hello backend"
	sum := md5.Sum([]byte(body))
	digest := hex.EncodeToString(sum[:])
	long := strings.Repeat("x", maxHTTPHeader)
	for _, tc := range []struct {
		name   string
		url    URL
		max    int64
		resp   string
		closed bool   // the server closes after resp
		want   string // the reason, "" when it passes
	}{
		{"ContentLengthEndsIt", URL{Path: "/", Digest: digest}, 0, "HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n" + body + "trailing junk", false, ""},
		{"CloseEndsIt", URL{Path: "/", Digest: digest}, 0, "HTTP/1.0 200 OK\r\n\r\n" + body, true, ""},
		{"WrongStatus", URL{Path: "/"}, 0, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", false, "HTTP status 500, expected 200-299"},
		{"NoStatus", URL{Path: "/"}, 0, "hello\r\n\r\n", true, "no HTTP status in response, expected 200-299"},
		{"RegexSeesTheBody", URL{Path: "/", Regex: &Regexp{regexp.MustCompile(`back\w+`)}}, 0, "HTTP/1.0 200 OK\r\n\r\n" + body, true, ""},
		{"RegexMiss", URL{Path: "/", Regex: &Regexp{regexp.MustCompile(`^nope`)}}, 0, "HTTP/1.0 200 OK\r\n\r\n" + body, true, `body does not match regex "^nope"`},
		{"EmptyResponse", URL{Path: "/"}, 0, "", true, "read response: no data received"},
		{"HeaderCut", URL{Path: "/"}, 0, "HTTP/1.0 200 OK\r\nServer: x\r\n", true, "read response: connection closed inside the header"},
		{"HeaderTooLong", URL{Path: "/"}, 0, "HTTP/1.0 200 OK\r\nX: " + long + "\r\n\r\n", true, "response header exceeds 16384 bytes"},
		{"ResponseTooLong", URL{Path: "/"}, 40, "HTTP/1.0 200 OK\r\n\r\n" + strings.Repeat("y", 100), true, "response exceeds 40 bytes, cut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustHTTP(t, HTTPOptions{URLs: []URL{tc.url}, MaxResponse: tc.max})
			for size := 1; size <= max(len(tc.resp), 1); size++ {
				h := newHTTPReply(&c.urls[0], c.maxResp)
				got, ended := "", false
				for p := []byte(tc.resp); len(p) > 0 && !ended; {
					n := min(size, len(p))
					done, reason := h.feed(p[:n])
					p = p[n:]
					if reason != "" {
						got, ended = reason, true
					} else if done {
						got, ended = h.verdict(), true
					}
				}
				if !ended {
					if !tc.closed {
						t.Fatalf("pieces of %d: the response never ended", size)
					}
					if got = h.eof(); got == "" {
						got = h.verdict()
					}
				}
				if got != tc.want {
					t.Fatalf("pieces of %d bytes: reason %q, want %q", size, got, tc.want)
				}
			}
		})
	}
}

// FuzzHTTPReply feeds arbitrary responses to httpReply. Inputs: the response, two places to
// cut it, which URL judges it (status only, an MD5 digest, or a regex with offsets), and
// whether the server closes after it. Properties: the verdict is the same whole, in three
// pieces and a byte at a time (the poller reads whatever the socket holds, so a response
// arrives cut anywhere); a status read from the header is 0 (none) or within 100..599; a
// response the verdict passes has a status the URL accepts. Seeds (testdata/fuzz/FuzzHTTPReply)
// are real nginx answers: HTTP/1.1 with Content-Length, and chunked.
func FuzzHTTPReply(f *testing.F) {
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nhello backend"), uint16(5), uint16(30), uint8(1), false)
	f.Add([]byte("HTTP/1.1 503 Service Unavailable\r\n\r\n"), uint16(0), uint16(0), uint8(0), true)
	sum := md5.Sum([]byte("hello backend\n"))
	checkers := []*HTTPChecker{
		mustHTTP(f, HTTPOptions{URLs: []URL{{Path: "/"}}, MaxResponse: 4096}),
		mustHTTP(f, HTTPOptions{URLs: []URL{{Path: "/", Digest: hex.EncodeToString(sum[:])}}, MaxResponse: 4096}),
		mustHTTP(f, HTTPOptions{URLs: []URL{{Path: "/", Regex: &Regexp{regexp.MustCompile(`back\w+`)}, RegexMinOffset: 2,
			RegexMaxOffset: 200, RegexMaxOffsetSet: true}}, MaxResponse: 4096}),
	}
	f.Fuzz(func(t *testing.T, resp []byte, cut1, cut2 uint16, mode uint8, closed bool) {
		u := &checkers[int(mode)%len(checkers)].urls[0]
		judge := func(pieces [][]byte) (verdict string, h *httpReply) {
			r := newHTTPReply(u, 4096)
			for _, p := range pieces {
				done, reason := r.feed(p)
				if reason != "" {
					return "failed: " + reason, &r
				}
				if done {
					return "ended: " + r.verdict(), &r
				}
			}
			if !closed {
				return "waiting", &r
			}
			if reason := r.eof(); reason != "" {
				return "closed: " + reason, &r
			}
			return "closed: " + r.verdict(), &r
		}
		whole, h := judge([][]byte{resp})
		a, b := min(int(cut1), len(resp)), min(int(cut2), len(resp))
		if a > b {
			a, b = b, a
		}
		if got, _ := judge([][]byte{resp[:a], resp[a:b], resp[b:]}); got != whole {
			t.Fatalf("cut at %d and %d: %q, whole: %q", a, b, got, whole)
		}
		if len(resp) <= 2048 {
			bytewise := make([][]byte, len(resp))
			for i := range resp {
				bytewise[i] = resp[i : i+1]
			}
			if got, _ := judge(bytewise); got != whole {
				t.Fatalf("a byte at a time: %q, whole: %q", got, whole)
			}
		}
		if h.headDone && h.status != 0 && (h.status < 100 || h.status > 599) {
			t.Fatalf("status %d read from %q", h.status, resp)
		}
		if whole == "ended: " || whole == "closed: " {
			if !statusAccepted(u.StatusCodes, h.status) {
				t.Fatalf("passed with status %d, which the URL does not accept", h.status)
			}
		}
	})
}

// FuzzHTTPHeaders reads an HTTP/1 header block as the header expectations do and compares the
// values found with net/textproto's reading of the same bytes: whatever textproto reads as the
// header's values, the expectations see too. An obsolete line fold may become one or more spaces
// (RFC 9112 section 5.2) and a field value never ends in blanks (RFC 9110 section 5.5); textproto
// keeps the space it joins an empty folded line with, vigil does not, so the comparison folds
// each run of blanks into one space and trims the ends.
func FuzzHTTPHeaders(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/plain\r\nX-Role: primary\r\n\r\n"), "x-role")
	f.Add([]byte("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie:  b=2 \r\n\r\n"), "Set-Cookie")
	f.Add([]byte("HTTP/1.0 200 OK\nX-Role:primary\n\n"), "X-Role")
	f.Fuzz(func(t *testing.T, head []byte, name string) {
		got := headerValues(head, name)
		if len(name) == 0 || !isToken(name) {
			return
		}
		_, rest, ok := bytes.Cut(head, []byte("\n"))
		if !ok {
			return
		}
		hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(rest))).ReadMIMEHeader()
		if err != nil {
			return
		}
		want := hdr.Values(name)
		seen := make([]string, len(got))
		for i, g := range got {
			seen[i] = foldBlanks(g)
		}
		for _, w := range want {
			if !slices.Contains(seen, foldBlanks(w)) {
				t.Fatalf("header %q: textproto reads %q, the expectations %q", name, want, got)
			}
		}
		res := headerExpectations([]HeaderExpect{{Name: name}}, func(string) []string { return got })
		if (res == "") != (len(got) > 0) {
			t.Fatalf("header %q present=%v, expectation says %q", name, len(got) > 0, res)
		}
	})
}

// foldBlanks turns each run of spaces and tabs in s into one space and drops those at its ends.
func foldBlanks(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
}

// A kept connection's chunked answer ends at its last chunk and trailer, however it arrives.
func TestChunkedReplyEndsAtItsLastChunk(t *testing.T) {
	u := &httpURL{URL: URL{Path: "/", StatusCodes: []StatusRange{{200, 299}}}}
	head := "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	tests := []struct {
		name, body     string
		done, trailing bool
		reason         string
	}{
		{"Chunks", "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", true, false, ""},
		{"ExtensionsAndTrailer", "3;a=b\r\nabc\r\n0;x\r\nT: 1\r\nU: 2\r\n\r\n", true, false, ""},
		{"BareLineFeeds", "3\nabc\n0\n\n", true, false, ""},
		{"BytesAfterTheEnd", "1\r\na\r\n0\r\n\r\nHTTP/1.1", true, true, ""},
		{"NotYetEnded", "3\r\nabc\r\n0\r\nT: 1\r\n", false, false, ""},
		{"SizeNotHex", "zz\r\n", false, false, "malformed chunked"},
		{"DataOverrunsItsSize", "1\r\nab\r\n0\r\n\r\n", false, false, "malformed chunked"},
		{"SizeTooLong", "1000000000000000\r\n", false, false, "malformed chunked"},
	}
	for _, tc := range tests {
		for _, piece := range []int{1, 7, 4096} {
			r := newHTTPReply(u, 1<<20)
			r.framed = true
			var done bool
			var reason string
			for p := []byte(head + tc.body); len(p) > 0 && !done && reason == ""; {
				n := min(piece, len(p))
				done, reason = r.feed(p[:n])
				p = p[n:]
			}
			if done != tc.done || !strings.Contains(reason, tc.reason) || (tc.reason == "") != (reason == "") {
				t.Errorf("%s in pieces of %d: done %t, reason %q; want %t, %q", tc.name, piece, done, reason, tc.done, tc.reason)
			}
			if done && r.trailing != tc.trailing && piece == 4096 {
				t.Errorf("%s: trailing %t, want %t", tc.name, r.trailing, tc.trailing)
			}
			if done && !tc.trailing && !r.reusable() {
				t.Errorf("%s in pieces of %d: a complete chunked answer leaves the connection unfit", tc.name, piece)
			}
		}
	}
}
