package config

import (
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// Config is the whole resolved configuration. Its JSON form (`vigil dump-config`) is a public
// interface: field names are stable, and new fields are only ever added.
type Config struct {
	Global             globaldefs.Defs       `json:"global_defs"`
	VRRPScripts        []*vrrpd.Script       `json:"vrrp_scripts"`
	VRRPTrackFiles     []*vrrpd.TrackFile    `json:"vrrp_track_files"`
	VRRPTrackProcesses []*vrrpd.TrackProcess `json:"vrrp_track_processes"`
	VRRPInstances      []*vrrpd.Instance     `json:"vrrp_instances"`
	VRRPSyncGroups     []*vrrpd.SyncGroup    `json:"vrrp_sync_groups"`
	// VRRPStatic holds static_ipaddress, static_routes, static_rules, garp_group and
	// linkbeat_interfaces: host configuration kept whatever the VRRP state.
	VRRPStatic          vrrpd.Static              `json:"vrrp_static"`
	VirtualServerGroups []*lvs.VirtualServerGroup `json:"virtual_server_groups"`
	VirtualServers      []*lvs.VirtualServer      `json:"virtual_servers"`
	// BGP is vigil's bgp block (an extension); nil when absent.
	BGP *bgpd.BGP `json:"bgp"`
}

func newConfig() *Config {
	c := &Config{}
	c.Global = globaldefs.Default()
	return c
}

// The language's types that Load and Parse hand out, under the names their users have always
// known them by.
type (
	// Pos is where a line came from (syntax.Pos).
	Pos = syntax.Pos
	// Line is one lexed line (syntax.Line).
	Line = syntax.Line
	// Severity says whether a diagnostic makes the configuration unusable (syntax.Severity).
	Severity = syntax.Severity
	// Diagnostic is one complaint about the configuration (syntax.Diagnostic).
	Diagnostic = syntax.Diagnostic
	// Diagnostics collects complaints in the order they were found (syntax.Diagnostics).
	Diagnostics = syntax.Diagnostics
	// Options controls how a configuration is read (syntax.Options).
	Options = syntax.Options
)

// Severities, as syntax has them.
const (
	Warning = syntax.Warning
	Error   = syntax.Error
)

// DefaultMaxLines is the bound on expanded lines when Options.MaxLines is 0.
const DefaultMaxLines = syntax.DefaultMaxLines
