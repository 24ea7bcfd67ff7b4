package notify

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// InsecureError says why enable_script_security refuses a script.
type InsecureError struct {
	Script string // the program as configured
	Path   string // the file or directory at fault
	Why    string
}

func (e *InsecureError) Error() string {
	if e.Path == e.Script {
		return fmt.Sprintf("script %s refused by script security: %s", e.Script, e.Why)
	}
	return fmt.Sprintf("script %s refused by script security: %s: %s", e.Script, e.Path, e.Why)
}

// CheckSecure applies Keepalived's enable_script_security rules to program, which will run as
// user (nil: as vigil itself, whose ids are ourUID/ourGID). As in Keepalived, the path matters
// only when the program runs with root privileges: as uid 0 or gid 0, or because the file is
// set-uid root or set-gid root. Then the file and every directory leading to it, both on the
// path as written and on the path with symbolic links resolved, must be owned by root, and none
// may be writable by a group other than root's or by everyone, except directories with the
// sticky bit (such as /tmp) which may be group or world writable but must still be owned by root.
//
// Where vigil differs: Keepalived refuses a path through a symbolic link to a directory (on
// merged-/usr systems that is /bin and /sbin); vigil accepts a link owned by root, since only
// root can change it, and checks its target through the resolved path.
func CheckSecure(program string, user *User, ourUID, ourGID uint32) error {
	return checkSecure(program, user, ourUID, ourGID, true)
}

// checkSecure is CheckSecure; a file that is read rather than executed (a script named to a
// shell) need not be executable, so exec is false for it.
func checkSecure(program string, user *User, ourUID, ourGID uint32, exec bool) error {
	uid, gid := ourUID, ourGID
	if user != nil {
		uid, gid = user.UID, user.GID
	}
	abs, err := filepath.Abs(program)
	if err != nil {
		return fmt.Errorf("script %s: %w", program, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("script %s cannot be accessed: %w", program, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(real, &st); err != nil {
		return fmt.Errorf("script %s cannot be accessed: %w", program, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return &InsecureError{Script: program, Path: real, Why: "not a regular file"}
	}
	if exec && !executableBy(&st, uid, gid) {
		return fmt.Errorf("script %s is not executable for uid:gid %d:%d", program, uid, gid)
	}
	needProtection := uid == 0 || gid == 0 ||
		(st.Uid == 0 && st.Mode&syscall.S_IXUSR != 0 && st.Mode&syscall.S_ISUID != 0) ||
		(st.Gid == 0 && st.Mode&syscall.S_IXGRP != 0 && st.Mode&syscall.S_ISGID != 0)
	if !needProtection {
		return nil
	}
	if err := checkPath(program, abs); err != nil {
		return err
	}
	if real != abs {
		return checkPath(program, real)
	}
	return nil
}

// ShellSyntaxError is enable_script_security's refusal of a command line that the shell would
// read, for a script that runs with root's privileges: the shell could run programs that the
// checks never saw ("ok.sh && /tmp/x/evil.sh", "$(...)", backquotes), so the line is refused
// whatever its first word is. A wrapper script holding the line, itself checked, is the way
// around it.
type ShellSyntaxError struct {
	Command string // the line as configured
	Syntax  string // the first shell construct found, as ShellSyntax names it
}

func (e *ShellSyntaxError) Error() string {
	return fmt.Sprintf("script %q refused by script security: it uses shell syntax, %s, through which the shell could run programs script security does not check; put the line in a script of its own (owned by root, writable only by root) and name that script instead", e.Command, e.Syntax)
}

// shells are the programs that run a command line given with -c, or a script file named as
// their first operand.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "ksh": true, "mksh": true, "zsh": true}

// isShell reports whether program (a path or a name) is a shell.
func isShell(program string) bool { return shells[filepath.Base(program)] }

// shellOperand reads a shell's arguments as the shell does: cmdLine when an option cluster
// holds c (sh -c, sh -ec), else file is the first operand, the script the shell runs ("" when
// it reads its standard input).
func shellOperand(args []string) (file string, cmdLine bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1], false
			}
			return "", false
		case strings.HasPrefix(a, "--"):
			// a long option (bash --norc); none of them takes the command line
		case len(a) > 1 && (a[0] == '-' || a[0] == '+'):
			if strings.ContainsRune(a[1:], 'c') {
				return "", true
			}
			if strings.ContainsAny(a[1:], "oO") {
				i++ // -o OPTION: the next word is the option's
			}
		default:
			return a, false
		}
	}
	return "", false
}

// checkPath walks "/" and every prefix of path, which is absolute and clean.
func checkPath(program, path string) error {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	cur := "/"
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			cur = filepath.Join(cur, parts[i])
		}
		last := i == len(parts)-1
		var st syscall.Stat_t
		if err := syscall.Lstat(cur, &st); err != nil {
			return fmt.Errorf("script %s cannot be accessed: %w", program, &fs.PathError{Op: "lstat", Path: cur, Err: err})
		}
		mode := st.Mode & syscall.S_IFMT
		switch {
		case mode == syscall.S_IFLNK:
			// Permissions of a link mean nothing; who may replace it is decided by its directory,
			// checked already, and its owner, checked below. Its target is checked on the
			// resolved path.
		case !last && mode != syscall.S_IFDIR:
			return &InsecureError{Script: program, Path: cur, Why: "not a directory"}
		case last && mode != syscall.S_IFREG:
			return &InsecureError{Script: program, Path: cur, Why: "not a regular file"}
		}
		if st.Uid != 0 {
			return &InsecureError{Script: program, Path: cur, Why: fmt.Sprintf("owned by uid %d, not root", st.Uid)}
		}
		if mode == syscall.S_IFREG || (mode == syscall.S_IFDIR && st.Mode&syscall.S_ISVTX == 0) {
			if st.Gid != 0 && st.Mode&syscall.S_IWGRP != 0 {
				return &InsecureError{Script: program, Path: cur, Why: fmt.Sprintf("writable by group %d", st.Gid)}
			}
			if st.Mode&syscall.S_IWOTH != 0 {
				return &InsecureError{Script: program, Path: cur, Why: "writable by everyone"}
			}
		}
	}
	return nil
}

// executableBy is Keepalived's test of whether uid:gid may execute the file.
func executableBy(st *syscall.Stat_t, uid, gid uint32) bool {
	m := st.Mode
	switch {
	case uid == 0:
		return m&(syscall.S_IXUSR|syscall.S_IXGRP|syscall.S_IXOTH) != 0
	case uid == st.Uid:
		return m&syscall.S_IXUSR != 0
	case gid == st.Gid:
		return m&syscall.S_IXGRP != 0
	default:
		return m&syscall.S_IXOTH != 0
	}
}

// ourIDs are the ids vigil runs with.
func ourIDs() (uint32, uint32) { return uint32(os.Geteuid()), uint32(os.Getegid()) }
