package config_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// unknownToKeepalivedToo are places where the manual lists a keyword that Keepalived 2.4.3's
// own parser does not install, so that Keepalived says "Unknown keyword" there; vigil says the
// same, at the same line, which is refusing it as Keepalived does (not ignoring it):
//   - tls_compliant in an HTTP_GET's url (check_http.c installs it in SSL_GET's url only);
//   - FILE_CHECK's dynamic (the manual describes it; check_file.c has no such keyword).
var unknownToKeepalivedToo = map[string]bool{
	"virtual_server/real_server/HTTP_GET/url/tls_compliant": true,
	"virtual_server/real_server/FILE_CHECK/dynamic":         true,
}

// The keyword coverage test holds vigil to the newest Keepalived manual: every keyword of
// keepalived.conf(5), as testdata/manual/gen.go lists it from the manual's source (with the
// block it sits in and the manual's example line), is fed to vigil inside its block, and must
// be read (no complaint that it is unknown) or refused with "vigil does not support KEYWORD"
// at its line. A keyword vigil's tables accept without acting on it and without saying so
// would be silently ignored; so would one reported only as unknown.
const manualKeywords = "testdata/manual/keywords-2.4.3.txt"

// blockOpeners is how the test opens each block of a keyword's path (the manual's names).
var blockOpeners = map[string]string{
	"global_defs":          "global_defs {",
	"vrrp_instance":        "vrrp_instance VI_1 {",
	"vrrp_script":          "vrrp_script chk {",
	"vrrp_sync_group":      "vrrp_sync_group G1 {",
	"vrrp_track_process":   "vrrp_track_process P1 {",
	"track_file":           "track_file F1 {",
	"bfd_instance":         "bfd_instance B1 {",
	"garp_group":           "garp_group {",
	"track_group":          "track_group T1 {",
	"virtual_server":       "virtual_server 192.0.2.1 80 {",
	"virtual_server_group": "virtual_server_group VSG {",
	"real_server":          "real_server 192.0.2.2 80 {",
	"CHECKER_TYPE":         "TCP_CHECK {",
	"SSL":                  "SSL {",
}

type manualKeyword struct {
	path    []string // blocks, then the keyword
	example string
}

func readManualKeywords(t *testing.T) []manualKeyword {
	t.Helper()
	f, err := os.Open(manualKeywords)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []manualKeyword
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		path, example, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		out = append(out, manualKeyword{path: strings.Split(path, "/"), example: example})
	}
	return out
}

// keywordVerdict is what vigil does with one manual keyword: "read", "refused" or "ignored".
func keywordVerdict(t *testing.T, k manualKeyword) (verdict, detail string) {
	t.Helper()
	var b strings.Builder
	blocks := k.path[:len(k.path)-1]
	blockLines := map[int]bool{}
	for i, blk := range blocks {
		open, ok := blockOpeners[blk]
		if !ok {
			open = blk + " {"
		}
		b.WriteString(open + "\n")
		blockLines[i+1] = true
	}
	line := strings.Count(b.String(), "\n") + 1
	b.WriteString(k.example + "\n")
	if strings.HasSuffix(k.example, "{") {
		b.WriteString("}\n")
	}
	for range blocks {
		b.WriteString("}\n")
	}
	kw := k.path[len(k.path)-1]
	c, ds := configtest.Parse(t, b.String())
	for _, d := range ds.List {
		// A keyword inside a refused block (bfd_instance) is refused with it.
		if blockLines[d.Pos.Line] && strings.HasPrefix(d.Message, syntax.UnsupportedPrefix) {
			return "refused", "in " + d.Message
		}
		if d.Pos.Line != line {
			continue
		}
		if strings.HasPrefix(d.Message, syntax.UnsupportedPrefix+kw) {
			return "refused", d.Message
		}
		if strings.Contains(d.Message, "Unknown keyword '"+kw+"'") {
			return "ignored", d.Message
		}
	}
	for _, a := range c.Global.Accepted {
		if a.Pos.Line == line {
			return "ignored", "accepted without effect, without a word"
		}
	}
	return "read", ""
}

func TestEveryKeywordOfTheNewestManualIsReadOrRefused(t *testing.T) {
	kws := readManualKeywords(t)
	if len(kws) < 350 {
		t.Fatalf("%s lists %d keywords; regenerate it (testdata/manual/gen.go)", manualKeywords, len(kws))
	}
	counts := map[string]int{}
	var refused, ignored []string
	for _, k := range kws {
		v, detail := keywordVerdict(t, k)
		name := strings.Join(k.path, "/")
		if v == "ignored" && unknownToKeepalivedToo[name] {
			v, detail = "refused", "as Keepalived 2.4.3 itself refuses it: "+detail
		}
		counts[v]++
		switch v {
		case "refused":
			refused = append(refused, name+": "+detail)
		case "ignored":
			ignored = append(ignored, name+": "+detail)
		}
	}
	sort.Strings(refused)
	t.Logf("Keepalived 2.4.3 manual, %d keywords: read %d, refused %d, ignored %d", len(kws), counts["read"], counts["refused"], counts["ignored"])
	t.Logf("refused:\n%s", strings.Join(refused, "\n"))
	if out := os.Getenv("VIGIL_KEYWORD_REPORT"); out != "" {
		os.WriteFile(filepath.Clean(out), []byte(fmt.Sprintf("read %d refused %d ignored %d\n%s\n", counts["read"], counts["refused"], counts["ignored"], strings.Join(refused, "\n"))), 0o644)
	}
	if len(ignored) > 0 {
		t.Errorf("%d keywords of the manual are silently ignored or unknown to vigil:\n%s", len(ignored), strings.Join(ignored, "\n"))
	}
}

// Fatal is fatal: where `keepalived -t` (2.2.7, the one installed here) exits 2 for a keyword
// written with no argument ("missing a parameter", testdata/manual/make_fatal_bare.sh), vigil
// reports an error at that line, so `vigil -t` fails without --strict too.
func TestKeywordsKeepalivedFindsFatalWithoutArgumentAreErrors(t *testing.T) {
	b, err := os.ReadFile("testdata/manual/fatal-bare-2.2.7.txt")
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.Fields(string(b))
	if len(paths) < 50 {
		t.Fatalf("%d fatal keywords listed", len(paths))
	}
	for _, path := range paths {
		parts := strings.Split(path, "/")
		var src strings.Builder
		for _, blk := range parts[:len(parts)-1] {
			open, ok := blockOpeners[blk]
			if !ok {
				open = blk + " {"
			}
			src.WriteString(open + "\n")
		}
		line := len(parts)
		kw := parts[len(parts)-1]
		if _, block := blockOpeners[kw]; block && len(parts) == 1 {
			src.WriteString(kw + " {\n}\n") // an unnamed block
		} else {
			src.WriteString(kw + "\n")
		}
		for range parts[1:] {
			src.WriteString("}\n")
		}
		_, ds := configtest.Parse(t, src.String())
		fatal := false
		for _, d := range ds.List {
			fatal = fatal || d.Pos.Line == line && d.Severity == syntax.Error
		}
		if !fatal {
			t.Errorf("%s with no argument: Keepalived exits 2, vigil says %v", path, configtest.Lines(ds))
		}
	}
}
