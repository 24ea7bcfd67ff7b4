package control

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Verb is what a command does.
type Verb string

// The verbs.
const (
	// Drain, Maint and Ready set the admin state of a real server, or of every real server of
	// a virtual server; Ready also ends a VRRP instance's resignation.
	Drain Verb = "drain"
	Maint Verb = "maint"
	Ready Verb = "ready"
	// Weight overrides a real server's weight, or clears the override.
	Weight Verb = "weight"
	// Resign makes a VRRP instance send priority 0 and stay BACKUP until Ready.
	Resign Verb = "resign"
)

// ResetWeight is Command.Weight when the override is to be cleared.
const ResetWeight = -1

// Command is one operator's request.
type Command struct {
	Verb Verb
	// VS and RS name a real server (drain, maint, ready, weight), as the status API names them
	// ("[192.0.2.1]:tcp:80", "192.0.2.11:80"; a bare IP:PORT for a virtual server where it is
	// unique). RS empty with VS set: every real server of VS (drain, maint, ready).
	VS, RS string
	// Instance names a VRRP instance (resign, ready).
	Instance string
	// Name is the one word of `ready NAME`: a VRRP instance if one is so named, else a virtual
	// server (every real server of it). VS, RS and Instance are then empty.
	Name string
	// Weight is weight's new weight, 0 or more, or ResetWeight.
	Weight int
	// Reason is why, in the operator's words (--reason); it goes with the change everywhere.
	Reason string
	// By is who asked, set by the transport, never by the caller: "socket uid 0",
	// "http from 192.0.2.9:41234".
	By string
}

// String is the command as the socket takes it (without By).
func (c Command) String() string {
	args := c.Words()
	for i, a := range args {
		args[i] = Quote(a)
	}
	return strings.Join(args, " ")
}

// Words are the command's words as `vigil ctl` and the socket take them.
func (c Command) Words() []string {
	w := []string{string(c.Verb)}
	switch {
	case c.Instance != "":
		w = append(w, c.Instance)
	case c.Name != "":
		w = append(w, c.Name)
	default:
		w = append(w, c.VS)
		if c.RS != "" {
			w = append(w, c.RS)
		}
	}
	if c.Verb == Weight {
		if c.Weight == ResetWeight {
			w = append(w, "reset")
		} else {
			w = append(w, strconv.Itoa(c.Weight))
		}
	}
	if c.Reason != "" {
		w = append(w, "--reason", c.Reason)
	}
	return w
}

// Usage lists the commands, one per line.
const Usage = `drain VS [RS] [--reason TEXT]    no new connections for RS (or every real server of VS); established ones finish
maint VS [RS] [--reason TEXT]    RS (or every real server of VS) out of the pool; checks keep running
ready VS [RS] [--reason TEXT]    back to what the checks decide
weight VS RS N|reset [--reason TEXT]   weight N in place of the configured one, or the configured one back
resign INSTANCE [--reason TEXT]  priority 0, then BACKUP until ready
ready INSTANCE [--reason TEXT]   back in the VRRP election`

// Parse reads a command from its words: `drain VS RS --reason TEXT...`. The reason is every
// word after --reason (or --reason=TEXT), joined by spaces.
func Parse(words []string) (Command, error) {
	var c Command
	var args []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--reason" || w == "-reason":
			if i+1 >= len(words) {
				return c, Errorf(Invalid, "--reason needs a text")
			}
			c.Reason = strings.Join(words[i+1:], " ")
			i = len(words)
		case strings.HasPrefix(w, "--reason="):
			c.Reason = strings.Join(append([]string{strings.TrimPrefix(w, "--reason=")}, words[i+1:]...), " ")
			i = len(words)
		default:
			args = append(args, w)
		}
	}
	if len(args) == 0 {
		return c, Errorf(Invalid, "no command; commands:\n%s", Usage)
	}
	c.Verb, args = Verb(args[0]), args[1:]
	bad := func(usage string) (Command, error) {
		return c, Errorf(Invalid, "%s: expected %s", c.Verb, usage)
	}
	for _, a := range args {
		if a == "" {
			return c, Errorf(Invalid, "%s: an empty name", c.Verb)
		}
	}
	switch c.Verb {
	case Drain, Maint:
		if len(args) < 1 || len(args) > 2 {
			return bad("VS [RS]")
		}
		c.VS = args[0]
		if len(args) == 2 {
			c.RS = args[1]
		}
	case Ready:
		switch len(args) {
		case 1:
			c.Name = args[0]
		case 2:
			c.VS, c.RS = args[0], args[1]
		default:
			return bad("VS [RS], or INSTANCE")
		}
	case Weight:
		if len(args) != 3 {
			return bad("VS RS N|reset")
		}
		c.VS, c.RS = args[0], args[1]
		w, err := ParseWeight(args[2])
		if err != nil {
			return c, err
		}
		c.Weight = w
	case Resign:
		if len(args) != 1 {
			return bad("INSTANCE")
		}
		c.Instance = args[0]
	default:
		return c, Errorf(Invalid, "unknown command %q; commands:\n%s", c.Verb, Usage)
	}
	return c, nil
}

// ParseWeight reads a weight: 0 to 2147483647, or "reset" (ResetWeight).
func ParseWeight(s string) (int, error) {
	if s == "reset" {
		return ResetWeight, nil
	}
	w, err := strconv.ParseInt(s, 10, 32)
	if err != nil || w < 0 {
		return 0, Errorf(Invalid, "weight %q: expected a number from 0 to 2147483647, or reset", s)
	}
	return int(w), nil
}

// Split cuts a line into words: spaces separate them; single or double quotes keep spaces in
// one (`drain "FWM 5"`); a backslash takes the next character as it is.
func Split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote, escaped := false, rune(0), false
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, in = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 || escaped {
		return nil, Errorf(Invalid, "unterminated quote or escape in %q", line)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// Quote returns s as one word for Split.
func Quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n\"'\\") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Kind says what kind of failure an Error is.
type Kind int

// The kinds of Error.
const (
	// Failed is any other failure (the zero value): the change could not be made.
	Failed Kind = iota
	// NotFound: no virtual server, real server or VRRP instance is so named.
	NotFound
	// Ambiguous: a name matches more than one (a bare IP:PORT for two protocols).
	Ambiguous
	// Invalid: the command itself is wrong (an unknown verb, a bad weight).
	Invalid
)

// Error is a failure of a command, of a Kind, with a message for the operator.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes an *Error of kind k.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf is the Kind of the first *Error in err's chain; Failed when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Failed
}
