// Package bgpd reads vigil's bgp block, an extension Keepalived does not have: the BGP speaker
// that announces each virtual server's address while its pool has quorum (BGP, Neighbor), and a
// virtual_server's announce block (Announce), whose keyword the LVS section installs with
// AnnounceKeyword.
//
// A new keyword of the bgp block or of a neighbor goes into AddTopKeywords' tables, one of an
// announce block into AnnounceKeyword's, with its field on the model type. What needs other
// sections (announce only_while_master naming a vrrp_instance, announce on a virtual server
// without an address) is checked in package config.
//
// The name is the section's, after bgpd and Keepalived's vrrpd/checker halves, and keeps
// "bgp" free for internal/bgp, the speaker that uses this model.
package bgpd
