// Package vrrpd reads Keepalived's VRRPD section, the VRRP half's configuration: vrrp_instance,
// vrrp_sync_group, vrrp_script, track_file (and vrrp_track_file), vrrp_track_process, the
// static addresses, routes and rules (static_ipaddress, static_routes, static_rules), garp_group,
// linkbeat_interfaces, track_group, the blocks vigil accepts without acting on them
// (bfd_instance, interface_up_down_delays), and the syntax of vigil's track_virtual_server.
//
// It owns the model (model.go) and the keyword tables: keywords.go for the top-level blocks and
// the sync groups, track_keywords.go for the tracked objects (vrrp_script, track_file,
// vrrp_track_process) and the lines that name them, instance.go and instance_*.go for the body
// of vrrp_instance, one file per topic (identity, adverts, unicast, VMAC, addresses, tracking,
// notify, GARP, authentication), addresses.go for the address, route and rule lines, and
// track_virtual_server.go for vigil's track_virtual_server lines. Section.Finish runs
// Keepalived's checks once the file is read (vrrp_complete_init): defaults from global_defs,
// sync groups resolved, VRID conflicts.
//
// Where a new keyword goes: a new top-level block into AddTopKeywords; a keyword of
// vrrp_instance into the add*Keywords function of its topic, with its field on Instance (and, when a
// global_defs setting gives its default, a flag in instanceSet and a line in finishInstance);
// one of vrrp_sync_group into syncGroupTable. What needs another section (track_virtual_server
// naming virtual servers) is resolved in package config.
//
// The name is Keepalived's for this half (its VRRP process), and keeps "vrrp" free for
// internal/vrrp, the protocol engine that runs this model.
package vrrpd
