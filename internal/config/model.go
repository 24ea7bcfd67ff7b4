package config

// Config is the whole resolved configuration. Its JSON form (`vigil dump-config`) is a public
// interface: field names are stable, and new fields are only ever added.
type Config struct {
	Global              GlobalDefs            `json:"global_defs"`
	VRRPScripts         []*VRRPScript         `json:"vrrp_scripts"`
	VRRPTrackFiles      []*TrackFile          `json:"vrrp_track_files"`
	VRRPTrackProcesses  []*TrackProcess       `json:"vrrp_track_processes"`
	VRRPInstances       []*VRRPInstance       `json:"vrrp_instances"`
	VRRPSyncGroups      []*VRRPSyncGroup      `json:"vrrp_sync_groups"`
	VirtualServerGroups []*VirtualServerGroup `json:"virtual_server_groups"`
	VirtualServers      []*VirtualServer      `json:"virtual_servers"`
}

func newConfig() *Config {
	c := &Config{}
	c.Global = defaultGlobalDefs()
	return c
}
