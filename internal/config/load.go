package config

import (
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/lvs"
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
	lv := &lvs.Section{TrackFile: cfg.trackFile}
	syntax.Parse(lines, cfg.topTable(lv), diags)
	cfg.finish(diags, lv)
	return cfg
}

// topTable is the table of the top level: the sections' top-level keywords.
func (c *Config) topTable(lv *lvs.Section) *syntax.Table {
	t := &syntax.Table{Keywords: map[string]syntax.Keyword{}}
	globaldefs.AddTopKeywords(t, &c.Global)
	addVRRPTopKeywords(c, t)
	lvs.AddTopKeywords(t, lv)
	bgpd.AddTopKeywords(t, &c.BGP)
	return t
}

// finish runs the checks that need the whole configuration (references between blocks,
// defaults that depend on other blocks), after every block has been read.
func (c *Config) finish(diags *Diagnostics, lv *lvs.Section) {
	c.Global.Finish()
	c.finishVRRP(diags)
	lv.Finish(diags, &c.Global)
	c.VirtualServerGroups, c.VirtualServers = lv.Groups, lv.VirtualServers
	c.finishTrackVirtualServers(diags)
	c.finishBGP(diags)
}

// trackFile finds a track_file block read so far, for FILE_CHECK (lvs.Section.TrackFile).
func (c *Config) trackFile(name string) (weight int, reverse bool, ok bool) {
	for _, t := range c.VRRPTrackFiles {
		if t.Name == name {
			return t.Weight, t.WeightReverse, true
		}
	}
	return 0, false, false
}
