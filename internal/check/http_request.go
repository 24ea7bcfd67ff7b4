package check

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// buildRequest writes the HTTP/1 request for u with host as its Host header: Keepalived's
// own, unless vigil's request shaping says otherwise.
func (c *HTTPChecker) buildRequest(u URL, host string) []byte {
	minor := "0"
	if c.opts.Protocol == HTTP11 {
		minor = "1"
	}
	var b bytes.Buffer
	b.WriteString(cmp.Or(u.Method, "GET") + " " + u.Path + " HTTP/1." + minor + "\r\n")
	if headerValue(u.Headers, "User-Agent") == "" {
		b.WriteString("User-Agent: KeepAliveClient\r\n")
	}
	if c.opts.Protocol != HTTP10 && !c.opts.ReuseConnection {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("Host: " + host + "\r\n")
	if u.Username != "" {
		b.WriteString("Authorization: " + basicAuth(u.Username, u.Password) + "\r\n")
	}
	for _, h := range u.Headers {
		if !strings.EqualFold(headerName(h), "Host") {
			b.WriteString(h + "\r\n")
		}
	}
	if u.Body != "" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(u.Body)) + "\r\n\r\n" + u.Body)
		return b.Bytes()
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// basicAuth is the Authorization header's value for user and password (RFC 7617).
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// headerName is the name of a "Name: value" header as written.
func headerName(h string) string {
	name, _, _ := strings.Cut(h, ":")
	return strings.TrimSpace(name)
}

// headerValue is the value of the first of headers called name, "" when none is.
func headerValue(headers []string, name string) string {
	for _, h := range headers {
		if n, v, _ := strings.Cut(h, ":"); strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2): a method or a field name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// checkRequestShape says what of u's method, headers and credentials would break the request.
func checkRequestShape(u URL) error {
	if u.Method != "" && !isToken(u.Method) {
		return fmt.Errorf("method %q is not an HTTP token", u.Method)
	}
	for _, h := range u.Headers {
		if err := checkHeaderLine(h); err != nil {
			return err
		}
		if strings.EqualFold(headerName(h), "Content-Length") {
			return fmt.Errorf("header %q: vigil sends the body's own Content-Length", h)
		}
	}
	if strings.ContainsAny(u.Username+u.Password, "\r\n\x00") || strings.Contains(u.Username, ":") {
		return errors.New("username holds a colon, or username or password a line break or NUL")
	}
	return nil
}

// checkHeaderLine says what is wrong with a "Name: value" header line, if anything.
func checkHeaderLine(h string) error {
	name, value, ok := strings.Cut(h, ":")
	switch {
	case !ok:
		return fmt.Errorf("header %q: want \"Name: value\"", h)
	case !isToken(name):
		return fmt.Errorf("header %q: %q is not a header name", h, name)
	case strings.ContainsAny(value, "\r\n\x00"):
		return fmt.Errorf("header %q holds a line break or NUL", h)
	}
	return nil
}
