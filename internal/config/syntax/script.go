package syntax

import "strings"

// Script is a command line to run: a notify script, a vrrp_script's script, a startup script.
type Script struct {
	Pos Pos `json:"pos"`
	// Command is the command line: the keyword's first word, a quoted string when the
	// script has arguments, with the outer quotes removed. Keepalived splits it again with
	// its quoting and escapes to get argv (notify.SplitCommand does the same).
	Command string `json:"command"`
	// Args is Command split at blanks, for display; run scripts with notify.SplitCommand.
	Args []string `json:"args"`
	// User and Group, when set, are who runs it (notify scripts: "SCRIPT USER [GROUP]").
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
}

// ReadScript reads "KEYWORD SCRIPT [USER [GROUP]]": the script is the first word (quoted when
// it has arguments), then who runs it. l must have the script word.
func ReadScript(l Line) *Script {
	s := &Script{Pos: l.Pos, Command: l.Words[1], Args: strings.Fields(l.Words[1])}
	if len(l.Words) >= 3 {
		s.User = l.Words[2]
	}
	if len(l.Words) >= 4 {
		s.Group = l.Words[3]
	}
	return s
}
