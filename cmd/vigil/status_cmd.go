package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

const statusTimeout = 5 * time.Second

// statusCommand is `vigil status`: it asks the running daemon for /api/v1/status and prints
// virtual servers, real servers and VRRP instances as tables (or the JSON with --json). The
// daemon is found by --status-url, else by status_listen in the configuration named with -f,
// else at the default address. It parses its own flags (Keepalived's too, for -f and -i).
func statusCommand(o options, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("vigil status", stderr, &o)
	var rawURL string
	var asJSON bool
	fs.StringVar(&rawURL, "status-url", "", "base URL of the daemon's status server (default from -f's status_listen, else http://"+status.DefaultListen+")")
	fs.BoolVar(&asJSON, "json", false, "print the daemon's JSON as it is instead of tables")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	token := ""
	if rawURL == "" {
		listen := status.DefaultListen
		if explicit["f"] || explicit["use-file"] {
			cfg, diags, err := loadConfig(o)
			if err != nil {
				fmt.Fprintf(stderr, "vigil status: %v\n", err)
				return 1
			}
			if diags.HasErrors() {
				fmt.Fprintf(stderr, "vigil status: configuration %s is not usable (vigil -t -f %s says why)\n", o.configFile, o.configFile)
				return 1
			}
			if cfg.Global.StatusListen != "" {
				listen = cfg.Global.StatusListen
			}
			token = cfg.Global.StatusToken
		}
		if listen == "off" {
			fmt.Fprintf(stderr, "vigil status: %s has status_listen off: the daemon serves no status\n", o.configFile)
			return 1
		}
		rawURL = "http://" + dialable(listen)
	}
	endpoint := strings.TrimSuffix(rawURL, "/") + "/api/v1/status"
	body, err := fetchStatus(endpoint, token)
	if err != nil {
		fmt.Fprintf(stderr, "vigil status: %v\n", err)
		return 1
	}
	if asJSON {
		_, _ = stdout.Write(body)
		return 0
	}
	var snap status.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		fmt.Fprintf(stderr, "vigil status: %s did not return a status document: %v\n", endpoint, err)
		return 1
	}
	printStatus(stdout, snap)
	return 0
}

// dialable turns a listen address into one a client can connect to: a daemon listening on
// every address (":9080", "0.0.0.0:9080", "[::]:9080") is reached on loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

func fetchStatus(endpoint, token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("status URL %q: %w", endpoint, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w (is vigil running, and is this its status_listen address?)", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// printStatus writes the snapshot as a heading line, one table per virtual server and one
// table of VRRP instances. Times are UTC with their age relative to the snapshot.
func printStatus(w io.Writer, s status.Snapshot) {
	fmt.Fprintf(w, "vigil %s, data plane %s, at %s\n", s.Version, s.Dataplane, s.Generated.UTC().Format("2006-01-02 15:04:05 MST"))
	if r := s.LastReload; r != nil {
		why := ""
		if r.Reason != "" {
			why = ": " + r.Reason
		}
		outcome := r.Outcome
		if outcome == "refused" {
			outcome = "REFUSED"
		}
		fmt.Fprintf(w, "last reload %s %s%s\n", when(r.At, s.Generated), outcome, why)
	}
	if len(s.VirtualServers) == 0 && len(s.VRRPInstances) == 0 {
		fmt.Fprintln(w, "\nno virtual servers and no VRRP instances are configured")
	}
	if len(s.VirtualServers) > 0 {
		// One line per virtual server first: whether it is served is what matters most, and a
		// virtual server whose servers are up but that serves nothing must stand out.
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VIRTUAL SERVER\tSERVING\tUP\tQUORUM\tWHY NOT SERVING")
		for _, vs := range s.VirtualServers {
			serving, quorum := "yes", "-"
			if !vs.Serving {
				serving = "NO"
			}
			if vs.Quorum > 0 {
				quorum = fmt.Sprintf("%d met", vs.Quorum)
				if !vs.QuorumUp {
					quorum = fmt.Sprintf("%d LOST", vs.Quorum)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\n", vs.Name, serving, vs.UpCount, vs.Total, quorum, dash(vs.ServingReason))
		}
		_ = tw.Flush()
	}
	for _, vs := range s.VirtualServers {
		fmt.Fprintln(w)
		listen := ""
		if vs.Listen != vs.Name {
			listen = " " + vs.Listen
		}
		var flags []string
		if vs.Quorum > 0 {
			q := "quorum " + fmt.Sprint(vs.Quorum) + " met"
			if !vs.QuorumUp {
				q = "QUORUM " + fmt.Sprint(vs.Quorum) + " LOST"
			}
			flags = append(flags, q)
		}
		if vs.SorryActive {
			flags = append(flags, "sorry server active")
		}
		if vs.Panic {
			flags = append(flags, "panic: keeping all servers")
		}
		extra := ""
		if len(flags) > 0 {
			extra = ", " + strings.Join(flags, ", ")
		}
		serving := "serving"
		if !vs.Serving {
			serving = "NOT SERVING (" + vs.ServingReason + ")"
		}
		fmt.Fprintf(w, "virtual server %s (%s%s, %s): %s, %d/%d up%s\n", vs.Name, strings.ToLower(vs.Protocol), listen, vs.Scheduler, serving, vs.UpCount, vs.Total, extra)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  REAL SERVER\tSTATE\tADMIN\tWEIGHT\tSINCE\tLAST CHECK\tREASON")
		for _, rs := range vs.RealServers {
			state := "up"
			switch {
			case !rs.Up:
				state = "DOWN"
			case rs.Ejected:
				state = "EJECTED" // passive health: out until its next check verdict
			}
			weight := fmt.Sprintf("%d/%d", rs.EffectiveWeight, rs.Weight)
			if rs.WeightOverride != nil {
				weight += fmt.Sprintf(" (set %d)", *rs.WeightOverride)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", rs.Address, state, adminState(rs.AdminState), weight,
				when(rs.Since, s.Generated), lastCheck(rs.Checks, s.Generated), dash(reason(rs)))
		}
		_ = tw.Flush()
	}
	if len(s.VRRPInstances) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VRRP INSTANCE\tINTERFACE\tVRID\tSTATE\tPRIORITY\tMASTER\tSINCE\tADDRESSES\tREPAIRS")
		var problems, resigned []string
		for _, vi := range s.VRRPInstances {
			state := vi.State
			if vi.AdminState == status.AdminResigned {
				state += " (RESIGNED)"
				resigned = append(resigned, vi.Name+" since "+when(vi.AdminSince, s.Generated)+" "+adminWhy(vi.AdminBy, vi.AdminReason))
			}
			if vi.Problem != "" {
				state += " (PROBLEM)"
				problems = append(problems, vi.Name+": "+vi.Problem)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d/%d\t%s\t%s\t%s\t%d\n", vi.Name, vi.Interface, vi.VRID, state,
				vi.EffectivePriority, vi.Priority, dash(vi.MasterAddress), when(vi.Since, s.Generated),
				dash(strings.Join(vi.VirtualAddresses, " ")), vi.Repairs)
		}
		_ = tw.Flush()
		for _, p := range problems {
			fmt.Fprintln(w, "PROBLEM "+p)
		}
		for _, r := range resigned {
			fmt.Fprintln(w, "RESIGNED "+r+" (vigil ctl ready to end it)")
		}
	}
	if s.BGP != nil {
		printBGP(w, *s.BGP, s.Generated)
	}
}

// printBGP writes the BGP sessions and the prefixes the daemon has named, with why each is
// where it is.
func printBGP(w io.Writer, b status.BGP, now time.Time) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BGP NEIGHBOR\tAS\tSTATE\tSINCE")
	for _, ses := range b.Sessions {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", ses.Peer, ses.AS, ses.State, when(ses.EstablishedSince, now))
	}
	_ = tw.Flush()
	if len(b.Prefixes) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BGP PREFIX\tVIRTUAL SERVER\tSTATE\tIN RIB\tSINCE\tREASON")
	for _, p := range b.Prefixes {
		why := p.Reason
		if p.Held != "" {
			why += " (waiting: " + p.Held + ")"
		}
		if p.Error != "" {
			why += " (error: " + p.Error + ")"
		}
		inRIB := "no"
		if p.InRIB {
			inRIB = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Prefix, p.VirtualServer, p.State, inRIB, when(p.Since, now), dash(strings.TrimSpace(why)))
	}
	_ = tw.Flush()
}

// adminState is a real server's admin state as the table shows it: "-" when the checks decide.
func adminState(s string) string {
	if s == "" || s == status.AdminReady {
		return "-"
	}
	return strings.ToUpper(s)
}

// adminWhy says who set an admin state and why.
func adminWhy(by, why string) string {
	s := "by " + dash(by)
	if why != "" {
		s += ": " + why
	}
	return s
}

// reason is why a server is where it is: an operator's admin state first, then its own
// reason, else the first failing check's.
func reason(rs status.RealServer) string {
	if rs.AdminState != "" && rs.AdminState != status.AdminReady || rs.WeightOverride != nil {
		admin := rs.AdminState
		if rs.WeightOverride != nil {
			admin = fmt.Sprintf("weight %d", *rs.WeightOverride)
			if rs.AdminState != status.AdminReady && rs.AdminState != "" {
				admin = rs.AdminState + ", " + admin
			}
		}
		s := admin + " " + adminWhy(rs.AdminBy, rs.AdminReason)
		if rest := healthReason(rs); rest != "" {
			s += "; " + rest
		}
		return s
	}
	return healthReason(rs)
}

// healthReason is why the checks put a server where it is.
func healthReason(rs status.RealServer) string {
	if rs.Reason != "" {
		return rs.Reason
	}
	if rs.Ejected {
		return "ejected: " + rs.EjectedReason
	}
	for _, c := range rs.Checks {
		if c.Checked && !c.Healthy && c.Reason != "" {
			return c.Reason
		}
	}
	return ""
}

// lastCheck names the most recent check result: kind, outcome, latency and age.
func lastCheck(checks []status.Check, now time.Time) string {
	var last *status.Check
	for i := range checks {
		c := &checks[i]
		if c.Checked && (last == nil || c.At.After(last.At)) {
			last = c
		}
	}
	if last == nil {
		if len(checks) == 0 {
			return "-"
		}
		return "pending"
	}
	outcome := "ok"
	if !last.Healthy {
		outcome = "failed"
	}
	return fmt.Sprintf("%s %s %.1fms %s", last.Kind, outcome, float64(last.Latency)/float64(time.Millisecond), age(last.At, now))
}

func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05") + " (" + age(t, now) + ")"
}

func age(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	s := d.Round(time.Second).String()
	// "1h30m0s" reads better as "1h30m", and "1h0m0s" as "1h".
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
