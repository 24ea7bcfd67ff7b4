package check

import (
	"crypto/md5"
	"encoding/hex"
	"regexp"
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
		{"RegexSeesTheBody", URL{Path: "/", Regex: regexp.MustCompile(`back\w+`)}, 0, "HTTP/1.0 200 OK\r\n\r\n" + body, true, ""},
		{"RegexMiss", URL{Path: "/", Regex: regexp.MustCompile(`^nope`)}, 0, "HTTP/1.0 200 OK\r\n\r\n" + body, true, `body does not match regex "^nope"`},
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
