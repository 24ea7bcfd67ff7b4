package config

import (
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
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
	vr := &vrrpd.Section{}
	lv := &lvs.Section{TrackFile: vr.TrackFileWeight}
	syntax.Parse(lines, cfg.topTable(vr, lv), diags)
	cfg.finish(diags, vr, lv)
	return cfg
}

// topTable is the table of the top level: the sections' top-level keywords.
func (c *Config) topTable(vr *vrrpd.Section, lv *lvs.Section) *syntax.Table {
	t := &syntax.Table{Keywords: map[string]syntax.Keyword{}}
	globaldefs.AddTopKeywords(t, &c.Global)
	vrrpd.AddTopKeywords(t, vr, &c.Global)
	lvs.AddTopKeywords(t, lv)
	bgpd.AddTopKeywords(t, &c.BGP)
	return t
}

// finish runs the checks that need the whole configuration (references between blocks,
// defaults that depend on other blocks), after every block has been read.
func (c *Config) finish(diags *Diagnostics, vr *vrrpd.Section, lv *lvs.Section) {
	c.Global.Finish()
	vr.Finish(diags, &c.Global)
	c.VRRPScripts, c.VRRPTrackFiles, c.VRRPTrackProcesses = vr.Scripts, vr.TrackFiles, vr.TrackProcesses
	c.VRRPInstances, c.VRRPSyncGroups, c.VRRPStatic = vr.Instances, vr.SyncGroups, vr.Static
	lv.Finish(diags, &c.Global)
	c.VirtualServerGroups, c.VirtualServers = lv.Groups, lv.VirtualServers
	c.finishTrackVirtualServers(diags, vr)
	c.finishBGP(diags)
	c.finishConntrackSync(diags)
}
