package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/control"
)

const ctlTimeout = 10 * time.Second

// defaultControlSocket is where vigil ctl looks when the configuration names no socket: the
// path the unit's RuntimeDirectory and the Debian package's configuration use.
const defaultControlSocket = "/run/vigil/control.sock"

// ctlCommand is `vigil ctl`: an operator's command (drain, maint, ready, weight, resign) to the
// running daemon, by its control socket (the default: --socket, else control_socket in the
// configuration named by -f, else /run/vigil/control.sock if it exists) or, with --url, by the status API's write endpoints with --token
// (else status_token from -f's configuration). It prints what the daemon did, and exits 0 when
// it did it, 1 when it refused or could not be reached, 2 for a command it could not read.
func ctlCommand(o options, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("vigil ctl", stderr, &o)
	var socket, rawURL, token string
	fs.StringVar(&socket, "socket", "", "the daemon's control socket (default: control_socket in -f's configuration)")
	fs.StringVar(&rawURL, "url", "", "talk HTTP to the daemon's status server at this base URL instead of the socket")
	fs.StringVar(&token, "token", "", "with --url: the bearer token (default: status_token in -f's configuration)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vigil ctl [--socket PATH | --url URL [--token TOKEN]] [-f FILE] COMMAND ARGS... [--reason TEXT]\n\ncommands:\n%s\n\nflags:\n", indent(control.Usage))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cmd, err := control.Parse(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "vigil ctl: %v\n", err)
		return 2
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	conf := func() (socket, token string, err error) {
		// The configuration names the socket and the token; a file that cannot be read only
		// matters when nothing else was given.
		if !explicit["f"] && !explicit["use-file"] {
			if _, err := os.Stat(o.configFile); err != nil {
				return "", "", fmt.Errorf("no --socket or --url given, and %s cannot be read: %w", o.configFile, err)
			}
		}
		cfg, diags, err := loadConfig(o)
		if err != nil {
			return "", "", err
		}
		if diags.HasErrors() {
			return "", "", fmt.Errorf("configuration %s is not usable (vigil -t -f %s says why)", o.configFile, o.configFile)
		}
		return cfg.Global.ControlSocket, cfg.Global.StatusToken, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	var msg string
	if rawURL != "" {
		if token == "" {
			if _, t, err := conf(); err == nil {
				token = t
			}
		}
		msg, err = ctlHTTP(ctx, strings.TrimSuffix(rawURL, "/"), token, cmd)
	} else {
		if socket == "" {
			var err error
			socket, _, err = conf()
			if socket == "" {
				if _, serr := os.Stat(defaultControlSocket); serr == nil {
					socket = defaultControlSocket
				}
			}
			switch {
			case socket != "":
			case err != nil:
				fmt.Fprintf(stderr, "vigil ctl: %v\n", err)
				return 1
			default:
				fmt.Fprintf(stderr, "vigil ctl: %s has no control_socket in global_defs: add `control_socket %s` and restart vigil, or use --url URL --token TOKEN\n", o.configFile, defaultControlSocket)
				return 1
			}
		}
		msg, err = control.Send(ctx, socket, cmd)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil ctl: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, msg)
	return 0
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// ctlHTTP carries cmd out by the status API's write endpoints at base (docs/status-api.md).
func ctlHTTP(ctx context.Context, base, token string, cmd control.Command) (string, error) {
	type body map[string]any
	vs, rs := url.PathEscape(cmd.VS), url.PathEscape(cmd.RS)
	reason := func(b body) body {
		if cmd.Reason != "" {
			b["reason"] = cmd.Reason
		}
		return b
	}
	switch {
	case cmd.Verb == control.Resign || cmd.Instance != "":
		return ctlPost(ctx, base+"/api/v1/vrrp_instances/"+url.PathEscape(cmd.Instance)+"/"+string(cmd.Verb), token, reason(body{}))
	case cmd.Name != "":
		// `ready NAME`: a VRRP instance if one is so named, else a virtual server.
		msg, err := ctlPost(ctx, base+"/api/v1/vrrp_instances/"+url.PathEscape(cmd.Name)+"/ready", token, reason(body{}))
		var nf *notFoundError
		if !errors.As(err, &nf) {
			return msg, err
		}
		return ctlPost(ctx, base+"/api/v1/virtual_servers/"+url.PathEscape(cmd.Name)+"/state", token, reason(body{"state": "ready"}))
	case cmd.Verb == control.Weight:
		b := body{"weight": cmd.Weight}
		if cmd.Weight == control.ResetWeight {
			b = body{"reset": true}
		}
		return ctlPost(ctx, base+"/api/v1/virtual_servers/"+vs+"/real_servers/"+rs+"/weight", token, reason(b))
	case cmd.RS == "":
		return ctlPost(ctx, base+"/api/v1/virtual_servers/"+vs+"/state", token, reason(body{"state": string(cmd.Verb)}))
	}
	return ctlPost(ctx, base+"/api/v1/virtual_servers/"+vs+"/real_servers/"+rs+"/state", token, reason(body{"state": string(cmd.Verb)}))
}

// notFoundError is a 404 of the write endpoints: no such name.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

func ctlPost(ctx context.Context, endpoint, token string, body any) (string, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w (is vigil running, and is this its status_listen address?)", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("POST %s: read the answer: %w", endpoint, err)
	}
	var answer struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(raw, &answer) != nil {
		return "", fmt.Errorf("POST %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(raw)))
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return answer.Message, nil
	case http.StatusNotFound:
		return "", &notFoundError{answer.Error}
	case http.StatusUnauthorized:
		return "", fmt.Errorf("token refused: %s", answer.Error)
	}
	return "", errors.New(answer.Error)
}
