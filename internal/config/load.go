package config

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
// found; the error is non-nil only when the file could not be read at all. A configuration whose
// diagnostics hold an error must not be run.
func Load(path string, opts Options) (*Config, *Diagnostics, error) {
	diags := &Diagnostics{}
	lines, err := lex(path, opts, diags)
	if err != nil {
		return nil, diags, err
	}
	cfg := Parse(lines, diags)
	return cfg, diags, nil
}

// Parse builds the model from lexed lines. It never fails; problems go to diags.
func Parse(lines []Line, diags *Diagnostics) *Config {
	cfg := newConfig()
	p := &parser{lines: splitBraces(lines), diags: diags}
	p.markExtraCloses()
	p.parseBlock(cfg.topTable(), 0)
	cfg.finish(p)
	return cfg
}

func (c *Config) topTable() *table {
	t := &table{keywords: map[string]keyword{}}
	addVRRPTopKeywords(c, t)
	addLVSTopKeywords(c, t)
	addBGPTopKeywords(c, t)
	return t
}

// finish runs the checks that need the whole configuration (references between blocks,
// defaults that depend on other blocks), after every block has been read.
func (c *Config) finish(p *parser) {
	c.finishVRRP(p)
	c.finishLVS(p)
	c.finishTrackVirtualServers(p)
	c.finishBGP(p)
}
