package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// HTTPClient returns an HTTP client whose connections are made inside the namespace (to a
// status server or a web server there), without keep-alive, each request bounded by timeout.
func (ns *Namespace) HTTPClient(timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.DoErr(func() error {
			var err error
			c, err = (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// KeepAlive is a client's HTTP/1.1 connection held open between requests, as a browser's, a
// scraper's or a flood's: each request goes on the same connection.
type KeepAlive struct {
	Conn net.Conn
	r    *bufio.Reader
}

// DialKeepAlive connects to addr (host:port); the connection is closed when the test ends.
func DialKeepAlive(t testing.TB, addr string) *KeepAlive {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &KeepAlive{Conn: c, r: bufio.NewReader(c)}
}

// Send writes a request for path without waiting for the answer.
func (k *KeepAlive) Send(path string) error {
	k.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := io.WriteString(k.Conn, "GET "+path+" HTTP/1.1\r\nHost: vigil\r\n\r\n")
	return err
}

// Read reads one answer within timeout and returns its body; an answer other than 200 is an
// error. A Read that times out before the answer began may be tried again.
func (k *KeepAlive) Read(timeout time.Duration) (string, error) {
	k.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer k.Conn.SetReadDeadline(time.Time{})
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET: %s", resp.Status)
	}
	return string(body), err
}

// Get sends a request for path and reads its answer within timeout.
func (k *KeepAlive) Get(path string, timeout time.Duration) (string, error) {
	if err := k.Send(path); err != nil {
		return "", err
	}
	return k.Read(timeout)
}
