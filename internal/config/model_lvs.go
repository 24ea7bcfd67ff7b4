package config

// Placeholder types; the LVS side of the model is filled in by lvs_keywords.go.

// VirtualServerGroup is a virtual_server_group block.
type VirtualServerGroup struct{}

// VirtualServer is a virtual_server block.
type VirtualServer struct{}

func addLVSTopKeywords(c *Config, t *table) {}

func (c *Config) finishLVS(p *parser) {}
