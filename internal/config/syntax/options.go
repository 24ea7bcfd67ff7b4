package syntax

import (
	"os"
	"strings"
)

// Options controls how a configuration is read.
type Options struct {
	// ConfigID selects @id conditional lines (-i/--config-id). Empty means the short host name,
	// as in Keepalived.
	ConfigID string
	// MaxLines bounds the number of lines after includes and ~SEQ expansion; 0 means
	// DefaultMaxLines. It keeps a hostile or mistaken file from exhausting memory.
	MaxLines int
	// LookupEnv answers ${_ENV NAME} (Keepalived 2.4); nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
}

// DefaultMaxLines is the bound on expanded lines when Options.MaxLines is 0.
const DefaultMaxLines = 5_000_000

func (o Options) configID() string {
	if o.ConfigID != "" {
		return o.ConfigID
	}
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	short, _, _ := strings.Cut(h, ".")
	return short
}

// Load reads the configuration at path. The returned diagnostics hold every warning and error
