package config

// Placeholder types; the VRRP side of the model is filled in by vrrp_keywords.go.

// GlobalDefs is the global_defs block.
type GlobalDefs struct{}

func defaultGlobalDefs() GlobalDefs { return GlobalDefs{} }

// VRRPScript is a vrrp_script block.
type VRRPScript struct{}

// TrackFile is a vrrp_track_file block.
type TrackFile struct{}

// TrackProcess is a vrrp_track_process block.
type TrackProcess struct{}

// VRRPInstance is a vrrp_instance block.
type VRRPInstance struct{}

// VRRPSyncGroup is a vrrp_sync_group block.
type VRRPSyncGroup struct{}

func addVRRPTopKeywords(c *Config, t *table) {}

func (c *Config) finishVRRP(p *parser) {}
