package config

import "time"

// Config is the whole resolved configuration. Its JSON form (`vigil dump-config`) is a public
// interface: field names are stable, and new fields are only ever added.
type Config struct {
	Global             GlobalDefs       `json:"global_defs"`
	VRRPScripts        []*VRRPScript    `json:"vrrp_scripts"`
	VRRPTrackFiles     []*TrackFile     `json:"vrrp_track_files"`
	VRRPTrackProcesses []*TrackProcess  `json:"vrrp_track_processes"`
	VRRPInstances      []*VRRPInstance  `json:"vrrp_instances"`
	VRRPSyncGroups     []*VRRPSyncGroup `json:"vrrp_sync_groups"`
	// VRRPStatic holds static_ipaddress, static_routes, static_rules, garp_group and
	// linkbeat_interfaces: host configuration kept whatever the VRRP state.
	VRRPStatic          VRRPStatic            `json:"vrrp_static"`
	VirtualServerGroups []*VirtualServerGroup `json:"virtual_server_groups"`
	VirtualServers      []*VirtualServer      `json:"virtual_servers"`
	// BGP is vigil's bgp block (an extension); nil when absent.
	BGP *BGP `json:"bgp"`
}

func newConfig() *Config {
	c := &Config{}
	c.Global = defaultGlobalDefs()
	return c
}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("1.5s"), so
// dump-config output is readable and stable.
type Duration time.Duration

// MarshalText writes the duration as "1.5s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
