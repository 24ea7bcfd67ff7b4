package notify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// secureTree makes root-owned /tmp/<test>/dir/script.sh, mode 0755 throughout, and returns the
// directory and the script.
func secureTree(t *testing.T) (string, string) {
	t.Helper()
	base := t.TempDir()
	// t.TempDir's parents are created 0700 by the test binary: fine for root.
	dir := filepath.Join(base, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, dir, script} {
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, script
}

func TestCheckSecureAppliesKeepalivedRulesToRootScripts(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, script string) string // returns the program to check
		user    *User
		wantBad string // substring of the refusal; "" = accepted
	}{
		{"root-owned 0755 path is accepted", func(t *testing.T, dir, script string) string { return script }, nil, ""},
		{"world-writable script is refused", func(t *testing.T, dir, script string) string {
			must(t, os.Chmod(script, 0o757))
			return script
		}, nil, "writable by everyone"},
		{"group-writable script of a non-root group is refused", func(t *testing.T, dir, script string) string {
			must(t, os.Chown(script, 0, 1))
			must(t, os.Chmod(script, 0o775))
			return script
		}, nil, "writable by group 1"},
		{"group-writable script of group root is accepted", func(t *testing.T, dir, script string) string {
			must(t, os.Chmod(script, 0o775))
			return script
		}, nil, ""},
		{"script owned by another user is refused", func(t *testing.T, dir, script string) string {
			must(t, os.Chown(script, 1000, 0))
			return script
		}, nil, "owned by uid 1000"},
		{"directory writable by everyone is refused", func(t *testing.T, dir, script string) string {
			must(t, os.Chmod(dir, 0o777))
			return script
		}, nil, "dir: writable by everyone"},
		{"sticky world-writable directory is accepted", func(t *testing.T, dir, script string) string {
			must(t, os.Chmod(dir, 0o777|os.ModeSticky))
			return script
		}, nil, ""},
		{"directory owned by another user is refused", func(t *testing.T, dir, script string) string {
			must(t, os.Chown(dir, 1000, 1000))
			return script
		}, nil, "owned by uid 1000"},
		{"insecure target behind a secure symlink is refused", func(t *testing.T, dir, script string) string {
			must(t, os.Chmod(script, 0o757))
			link := filepath.Join(dir, "link")
			must(t, os.Symlink(script, link))
			return link
		}, nil, "writable by everyone"},
		{"insecure path run as a non-root user is not checked", func(t *testing.T, dir, script string) string {
			must(t, os.Chmod(script, 0o757))
			return script
		}, &User{UID: 65534, GID: 65534}, ""},
		{"set-uid root script run as a non-root user is checked", func(t *testing.T, dir, script string) string {
			must(t, os.Chmod(dir, 0o777))
			must(t, os.Chmod(script, 0o755|os.ModeSetuid))
			return script
		}, &User{UID: 65534, GID: 65534}, "writable by everyone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, script := secureTree(t)
			prog := tt.setup(t, dir, script)
			err := CheckSecure(prog, tt.user, 0, 0)
			if tt.wantBad == "" {
				if err != nil {
					t.Fatalf("CheckSecure(%s) = %v, want accepted", prog, err)
				}
				return
			}
			var insecure *InsecureError
			if !errors.As(err, &insecure) || !strings.Contains(err.Error(), tt.wantBad) {
				t.Fatalf("CheckSecure(%s) = %v, want refusal containing %q", prog, err, tt.wantBad)
			}
		})
	}
}

func TestCheckSecureRefusesMissingAndNonExecutableScripts(t *testing.T) {
	dir := t.TempDir()
	if err := CheckSecure(filepath.Join(dir, "absent"), nil, 0, 0); err == nil {
		t.Fatal("missing script accepted")
	}
	plain := filepath.Join(dir, "plain")
	must(t, os.WriteFile(plain, []byte("x"), 0o644))
	if err := CheckSecure(plain, nil, 0, 0); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Fatalf("non-executable script: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// bypassTree is secureTree with a world-writable directory beside the script, holding evil.sh,
// which creates a marker file when it runs. It returns the secure script, evil.sh and the
// marker's path.
func bypassTree(t *testing.T) (ok, evil, marker string) {
	t.Helper()
	dir, ok := secureTree(t)
	open := filepath.Join(filepath.Dir(dir), "open")
	must(t, os.Mkdir(open, 0o777))
	must(t, os.Chmod(open, 0o777)) // past the umask
	marker = filepath.Join(filepath.Dir(dir), "evil-ran")
	evil = filepath.Join(open, "evil.sh")
	must(t, os.WriteFile(evil, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755))
	must(t, os.Chown(evil, 0, 0))
	return ok, evil, marker
}

func TestScriptSecurityRefusesShellSyntaxAndNeverRunsIt(t *testing.T) {
	testenv.RequireRoot(t)
	ok, evil, marker := bypassTree(t)
	lines := []struct {
		line, syntax string
	}{
		{ok + " && " + evil, `"&&"`},
		{ok + " $(" + evil + ")", `"$("`},
		{ok + " `" + evil + "`", "backquotes"},
		{ok + " \"`" + evil + "`\"", "backquotes"},
		{ok + "; " + evil, `";"`},
		{ok + " | " + evil, `"|"`},
		{"/bin/sh -c " + evil, "/bin/sh -c"},
		{"/bin/bash -ec '" + ok + " && " + evil + "'", "/bin/bash -ec"},
	}
	for _, tc := range lines {
		t.Run(tc.line, func(t *testing.T) {
			r := NewRunner(RunnerOptions{ScriptSecurity: true})
			_, err := r.Check(Script{Command: tc.line})
			var shellErr *ShellSyntaxError
			if !errors.As(err, &shellErr) || !strings.Contains(err.Error(), tc.syntax) || !strings.Contains(err.Error(), "script of its own") {
				t.Fatalf("Check: %v, want a refusal naming %s and the way around it", err, tc.syntax)
			}
			if o := r.Run(context.Background(), Script{Command: tc.line}); o.Err == nil || !errors.As(o.Err, &shellErr) {
				t.Fatalf("Run: %v, want the same refusal", o)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatalf("%s ran", evil)
			}
		})
	}
	// Without script security the same line runs, as in Keepalived: the refusal above is the
	// rule's doing, not the test's.
	if o := NewRunner(RunnerOptions{}).Run(context.Background(), Script{Command: ok + " && " + evil, Timeout: 5 * time.Second}); !o.Success() {
		t.Fatalf("without script security: %v", o)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("without script security %s did not run: %v", evil, err)
	}
}

func TestScriptSecurityChecksTheScriptAShellIsGiven(t *testing.T) {
	testenv.RequireRoot(t)
	ok, evil, marker := bypassTree(t)
	r := NewRunner(RunnerOptions{ScriptSecurity: true})
	if _, err := r.Check(Script{Command: "/bin/sh " + ok}); err != nil {
		t.Fatalf("/bin/sh with a secure script: %v", err)
	}
	var insecure *InsecureError
	o := r.Run(context.Background(), Script{Command: "/bin/sh -e " + evil})
	if !errors.As(o.Err, &insecure) || !strings.Contains(o.Err.Error(), "writable by everyone") {
		t.Fatalf("/bin/sh -e evil.sh: %v, want a refusal of its writable directory", o)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("%s ran", evil)
	}
}

func TestShellSyntaxIsAllowedForScriptsWithoutRootPrivileges(t *testing.T) {
	r := NewRunner(RunnerOptions{ScriptSecurity: true})
	nobody := &User{Name: "nobody", UID: 65534, GID: 65534}
	if _, err := r.Check(Script{Command: "/bin/true && /bin/true", User: nobody}); err != nil {
		t.Fatalf("as nobody: %v; script security guards root's scripts only", err)
	}
}
