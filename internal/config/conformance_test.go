package config

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// The conformance test reads real configurations written for Keepalived (the steering repo's
// shared/samples and shared/corpus) and compares what vigil says of each with what Keepalived
// 2.2.7 said (shared/corpus/ORACLE_FULL.txt).

// oracleLine is one complaint Keepalived printed.
type oracleLine struct {
	line    int // 0 when Keepalived gave no line
	message string
}

type oracleFile struct {
	exit  int
	lines []oracleLine
}

var (
	oracleHeader = regexp.MustCompile(`^=== (\S+) exit=(\d+)`)
	oracleLineNo = regexp.MustCompile(`^\((?:[^:()]+: )?Line (\d+)\) (.*)$`)
)

// readOracle parses ORACLE_FULL.txt; complaints that Keepalived's processes printed more than
// once are kept once.
func readOracle(t *testing.T, path string) map[string]*oracleFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*oracleFile{}
	var cur *oracleFile
	seen := map[oracleLine]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), " \r")
		if m := oracleHeader.FindStringSubmatch(text); m != nil {
			exit, _ := strconv.Atoi(m[2])
			cur = &oracleFile{exit: exit}
			out[m[1]] = cur
			seen = map[oracleLine]bool{}
			continue
		}
		if cur == nil || strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		ol := oracleLine{message: strings.TrimSpace(text)}
		if m := oracleLineNo.FindStringSubmatch(text); m != nil {
			ol.line, _ = strconv.Atoi(m[1])
			ol.message = strings.TrimSpace(m[2])
		}
		if strings.HasPrefix(ol.message, "Please use global lvs_sync_daemon") {
			continue // the second line of a two-line message
		}
		if !seen[ol] {
			seen[ol] = true
			cur.lines = append(cur.lines, ol)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// machineOnly matches complaints about the machine rather than about the configuration:
// interfaces, scripts, users and include files that exist elsewhere, host names that this
// machine cannot resolve, and its build options. The first group is Keepalived's words. vigil
// says such things when `vigil -t` builds the parts (hostDiagnostics), about the machine the
// test runs on: an interface it lacks in Keepalived's words, a script or user in its own, below.
var machineOnly = []*regexp.Regexp{
	regexp.MustCompile(`^WARNING - interface .* doesn't exist$`),
	regexp.MustCompile(`^Non-existent interface specified in configuration$`),
	regexp.MustCompile(`tracked interface .* doesn't exist$`),
	regexp.MustCompile(`^Disabling track script .* since not found/accessible$`),
	regexp.MustCompile(`^SECURITY VIOLATION - `),
	regexp.MustCompile(`^Unable to set default user`),
	// vigil adds why after Keepalived's words.
	regexp.MustCompile(`^Error setting global script uid/gid\b`),
	regexp.MustCompile(`^Config files missing '`),
	regexp.MustCompile(`^Invalid smtp server `),
	regexp.MustCompile(`^iptables not supported`),
	regexp.MustCompile(`Cannot use VMAC/ipvlan with unicast and no interface`),

	// vigil's words for a script it would not run on this machine (missing, not executable,
	// insecure under enable_script_security, to be run as a user vigil cannot switch to), and
	// for what it would run but warns of; they follow the script's keyword:
	// "vrrp_script chk: ", "(VI_1) notify_master: ", "MISC_CHECK misc_path: ", "notify_up: "...
	regexp.MustCompile(`^(vrrp_script \S+|\(\S+\) \S+|global_defs \S+|MISC_CHECK misc_path|notify_up|notify_down|quorum_up|quorum_down): ` +
		`(script \S+( cannot be accessed| is not executable| refused by script security| cannot run as uid| resolved by path search|: )|unsafe permissions found for script )`),
	// What the data plane the test builds with (userspace, the default) cannot serve: the same
	// file is served with dataplane nftables or ipvs, as Keepalived serves it with IPVS.
	regexp.MustCompile(`^virtual server \S+ is not steered: the userspace data plane cannot serve fwmark `),
	// A script user or group that does not exist here (Keepalived's words, then why).
	regexp.MustCompile(`^(vrrp_script \S+: Unable to set uid/gid for script|\(\S+\) Invalid user/group for \S+ script|Failed to set uid/gid for misc checker script) .*: `),
}

// hostDiagnostics, when set, is what `vigil -t` says beyond parsing: what building the parts
// refuses or warns of (conformance_host_test.go sets it, from a package that may import the
// daemon and the VRRP half). Most of it is about this machine (machineOnly above); the rest is
// about the file, and is judged like the parser's complaints.
var hostDiagnostics func(*Config) []syntax.Diagnostic

// SetHostDiagnostics sets hostDiagnostics (for conformance_host_test.go, in package config_test).
func SetHostDiagnostics(f func(*Config) []syntax.Diagnostic) { hostDiagnostics = f }

var trackScriptMissing = regexp.MustCompile(`track script (\S+) not found, ignoring`)
var scriptDisabled = regexp.MustCompile(`^(?:Disabling track script (\S+) since|Unable to set default user for vrrp script (\S+) )`)

// configCaused returns the complaints that are about the configuration itself.
func (of *oracleFile) configCaused() []oracleLine {
	disabled := map[string]bool{}
	for _, l := range of.lines {
		if m := scriptDisabled.FindStringSubmatch(l.message); m != nil {
			disabled[m[1]+m[2]] = true
		}
	}
	var out []oracleLine
next:
	for _, l := range of.lines {
		for _, re := range machineOnly {
			if re.MatchString(l.message) {
				continue next
			}
		}
		// A track script "not found" only because this machine lacks its script file.
		if m := trackScriptMissing.FindStringSubmatch(l.message); m != nil && disabled[m[1]] {
			continue
		}
		out = append(out, l)
	}
	return out
}

// naiveCounts counts vrrp_instance, virtual_server and real_server blocks by their keyword at
// the start of a line, comments removed: an independent check of the model's counts.
func naiveCounts(src string) (vrrp, vs, rs int) {
	for _, line := range strings.Split(src, "\n") {
		if i := strings.IndexAny(line, "#!"); i >= 0 {
			line = line[:i]
		}
		w := strings.Fields(line)
		if len(w) < 2 {
			continue
		}
		switch w[0] {
		case "vrrp_instance":
			vrrp++
		case "virtual_server":
			vs++
		case "real_server":
			rs++
		}
	}
	return
}

// modelCounts counts through the public JSON form, so the test reads what dump-config prints.
func modelCounts(t *testing.T, cfg *Config) (vrrp, vs, rs int) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		VRRP []json.RawMessage `json:"vrrp_instances"`
		VS   []struct {
			RS []json.RawMessage `json:"real_servers"`
		} `json:"virtual_servers"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, v := range m.VS {
		rs += len(v.RS)
	}
	return len(m.VRRP), len(m.VS), rs
}

type conformance struct {
	file       string
	keepalived string // "accepts", "machine-only" or "rejects"
	vigil      string // "accepts" or "rejects"
	agree      bool
	matched    int // config-caused complaints vigil also makes (same line, or same words when Keepalived gave no line)
	expected   int
	missed     []string
	extra      []string // vigil's complaints at lines where Keepalived said nothing
	// hostExtra are the extra complaints about this machine (machineOnly): what the dry
	// builds of `vigil -t` find missing on the host the test runs on. They are counted apart
	// from extra, because they say what this host lacks (scripts, users, interfaces the
	// oracles' host had or lacked in other ways), not how vigil reads the file; counted
	// together, the number would measure the test host.
	hostExtra []string
	// unsupported are vigil's refusals of keywords Keepalived knows ("vigil does not support
	// X"): about vigil, not the file, so they decide no verdict; counted apart.
	unsupported []string
	countsOK    bool
	countsNote  string
}

// conform compares vigil with the oracle for every file in dir that the oracle lists. unmasked,
// when given, is what Keepalived said of the same files on a host that has every interface they
// name: a file whose only complaints in oracle were about this machine, but that Keepalived
// rejects once the interfaces exist, has a problem of its own that the missing interface hid.
func conform(t *testing.T, dir string, oracle, unmasked map[string]*oracleFile) []conformance {
	t.Helper()
	names := make([]string, 0, len(oracle))
	for n := range oracle {
		names = append(names, n)
	}
	sort.Strings(names)
	var results []conformance
	for _, name := range names {
		of := oracle[name]
		path := filepath.Join(dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The oracles were made on a host named "vm"; select the same @id lines.
		cfg, diags, err := Load(path, syntax.Options{ConfigID: "vm"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hostDiagnostics != nil {
			diags.List = append(diags.List, hostDiagnostics(cfg)...)
		}
		r := conformance{file: name}
		caused := of.configCaused()
		switch {
		case len(caused) > 0:
			r.keepalived = "rejects"
		case of.exit == 0:
			r.keepalived = "accepts"
		default:
			r.keepalived = "machine-only"
		}
		vigilLines := map[int]bool{}
		vigilMessages := map[string]bool{}
		r.vigil = "accepts"
		for _, d := range diags.List {
			if filepath.Base(d.Pos.File) == name {
				vigilLines[d.Pos.Line] = true
			}
			vigilMessages[d.Message] = true
			if !isMachineOnly(d.Message) && !isUnsupported(d.Message) {
				r.vigil = "rejects"
			}
		}
		r.agree = (r.keepalived == "rejects") == (r.vigil == "rejects")
		if u := unmasked[name]; u != nil && r.keepalived == "machine-only" && len(u.configCaused()) > 0 {
			r.keepalived = "machine-masked"
			r.agree = r.vigil == "rejects"
		}
		oracleLines := map[int]bool{}
		oracleMessages := map[string]bool{}
		for _, l := range of.lines {
			oracleLines[l.line] = true
			oracleMessages[l.message] = true
		}
		for _, l := range caused {
			r.expected++
			if (l.line > 0 && vigilLines[l.line]) || (l.line == 0 && vigilMessages[l.message]) {
				r.matched++
			} else {
				r.missed = append(r.missed, fmt.Sprintf("%d: %s", l.line, l.message))
			}
		}
		for _, d := range diags.List {
			if filepath.Base(d.Pos.File) == name && !oracleLines[d.Pos.Line] && !oracleMessages[d.Message] {
				e := fmt.Sprintf("%d: %s: %s", d.Pos.Line, d.Severity, d.Message)
				switch {
				case isMachineOnly(d.Message):
					r.hostExtra = append(r.hostExtra, e)
				case isUnsupported(d.Message):
					r.unsupported = append(r.unsupported, e)
				default:
					r.extra = append(r.extra, e)
				}
			}
		}
		nv, ns, nr := naiveCounts(string(src))
		mv, ms, mr := modelCounts(t, cfg)
		r.countsOK = nv == mv && ns == ms && nr == mr
		r.countsNote = fmt.Sprintf("vrrp %d/%d vs %d/%d rs %d/%d", mv, nv, ms, ns, mr, nr)
		results = append(results, r)
	}
	return results
}

func isUnsupported(message string) bool { return strings.HasPrefix(message, syntax.UnsupportedPrefix) }

func isMachineOnly(message string) bool {
	for _, re := range machineOnly {
		if re.MatchString(message) {
			return true
		}
	}
	return false
}

// summarize renders the counts and every difference, and reports the rules the test enforces.
func summarize(t *testing.T, set string, results []conformance) {
	t.Helper()
	var agree, accepted, acceptedOK, rejected, rejectedOK, machine, machineOK, expected, matched, extra, hostExtra, unsupported int
	var report strings.Builder
	for _, r := range results {
		expected += r.expected
		matched += r.matched
		extra += len(r.extra)
		hostExtra += len(r.hostExtra)
		unsupported += len(r.unsupported)
		if r.agree {
			agree++
		}
		switch r.keepalived {
		case "accepts":
			accepted++
			if r.vigil == "accepts" && r.countsOK {
				acceptedOK++
			}
		case "machine-only", "machine-masked":
			machine++
			if r.agree {
				machineOK++
			}
		case "rejects":
			rejected++
			if r.vigil == "rejects" {
				rejectedOK++
			}
		}
		if !r.agree || len(r.missed) > 0 || !r.countsOK || len(r.extra) > 0 || len(r.hostExtra) > 0 || len(r.unsupported) > 0 {
			fmt.Fprintf(&report, "%s: keepalived %s, vigil %s; complaints %d/%d; counts %s\n", r.file, r.keepalived, r.vigil, r.matched, r.expected, r.countsNote)
			for _, m := range r.missed {
				fmt.Fprintf(&report, "    missed  %s\n", m)
			}
			for _, e := range r.extra {
				fmt.Fprintf(&report, "    extra   %s\n", e)
			}
			for _, e := range r.hostExtra {
				fmt.Fprintf(&report, "    host    %s\n", e)
			}
			for _, e := range r.unsupported {
				fmt.Fprintf(&report, "    unsupp  %s\n", e)
			}
		}
	}
	summary := fmt.Sprintf("%s: %d files; Keepalived accepts %d (vigil accepts %d with equal counts), rejects %d for the configuration itself (vigil rejects %d), %d only for this machine (vigil agrees on %d); verdicts agree on %d/%d; Keepalived's config-caused complaints that vigil makes too, at the same line: %d/%d; vigil complaints at lines where Keepalived said nothing: %d (and %d about this machine, %d keywords vigil does not support)",
		set, len(results), accepted, acceptedOK, rejected, rejectedOK, machine, machineOK, agree, len(results), matched, expected, extra, hostExtra, unsupported)
	t.Log(summary)
	if report.Len() > 0 {
		t.Log("differences:\n" + report.String())
	}
	if out := os.Getenv("VIGIL_CONFORMANCE_REPORT"); out != "" {
		f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s\n\n%s\n", summary, report.String())
			f.Close()
		}
	}
	if acceptedOK != accepted {
		t.Errorf("%s: vigil must accept every file Keepalived accepts, with the same counts: %d/%d", set, acceptedOK, accepted)
	}
	if rejectedOK != rejected {
		t.Errorf("%s: vigil must reject every file Keepalived rejects for its configuration: %d/%d", set, rejectedOK, rejected)
	}
	if matched != expected {
		t.Errorf("%s: vigil must complain where Keepalived complains: %d/%d", set, matched, expected)
	}
	if agree != len(results) {
		t.Errorf("%s: verdicts agree on %d/%d files", set, agree, len(results))
	}
}

func TestCorpusConformance(t *testing.T) {
	shared := testenv.SharedDir(t)
	corpus := filepath.Join(shared, "corpus")
	oracle := readOracle(t, filepath.Join(corpus, "ORACLE_FULL.txt"))
	if len(oracle) < 80 {
		t.Fatalf("oracle lists %d files, want 80", len(oracle))
	}
	withInterfaces := readOracle(t, filepath.Join("testdata", "conformance", "corpus_oracle_with_interfaces.txt"))
	summarize(t, "corpus (shared ORACLE_FULL.txt)", conform(t, corpus, oracle, withInterfaces))
}

// TestCorpusConformanceWithInterfaces judges the corpus by what Keepalived says when every
// interface the files name exists (testdata/conformance/make_corpus_oracle_with_interfaces.sh):
// only the configuration, scripts and users are left to complain about.
func TestCorpusConformanceWithInterfaces(t *testing.T) {
	shared := testenv.SharedDir(t)
	oracle := readOracle(t, filepath.Join("testdata", "conformance", "corpus_oracle_with_interfaces.txt"))
	summarize(t, "corpus (every interface present)", conform(t, filepath.Join(shared, "corpus"), oracle, nil))
}

func TestSamplesConformance(t *testing.T) {
	shared := testenv.SharedDir(t)
	oracle := readOracle(t, filepath.Join("testdata", "conformance", "samples_oracle.txt"))
	summarize(t, "samples", conform(t, filepath.Join(shared, "samples"), oracle, nil))
}
