package config

import (
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Load reads the configuration at path. The returned diagnostics hold every warning and error
// found; the error is non-nil only when the file could not be read at all. A configuration whose
// diagnostics hold an error must not be run.
func Load(path string, opts Options) (*Config, *Diagnostics, error) {
	diags := &Diagnostics{}
	lines, err := syntax.Lex(path, opts, diags)
	if err != nil {
		return nil, diags, err
	}
	cfg := Parse(lines, diags)
	return cfg, diags, nil
}

// Parse builds the model from lexed lines. It never fails; problems go to diags.
func Parse(lines []Line, diags *Diagnostics) *Config {
	cfg := newConfig()
	syntax.Parse(lines, cfg.topTable(), diags)
	cfg.finish(diags)
	return cfg
}

func (c *Config) topTable() *syntax.Table {
	t := &syntax.Table{Keywords: map[string]syntax.Keyword{}}
	globaldefs.AddTopKeywords(t, &c.Global)
	addVRRPTopKeywords(c, t)
	addLVSTopKeywords(c, t)
	bgpd.AddTopKeywords(t, &c.BGP)
	return t
}

// finish runs the checks that need the whole configuration (references between blocks,
// defaults that depend on other blocks), after every block has been read.
func (c *Config) finish(diags *Diagnostics) {
	c.Global.Finish()
	c.finishVRRP(diags)
	c.finishLVS(diags)
	c.finishTrackVirtualServers(diags)
	c.finishBGP(diags)
}
