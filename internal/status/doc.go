// Package status serves what vigil knows to people and programs: a JSON API of virtual services,
// real servers, VRRP instances and, when vigil announces over BGP, its sessions and prefixes; a
// Server-Sent Events stream of changes, Prometheus metrics and a live web page. It only reads:
// the daemon hands it snapshots and events, and nothing here changes a decision. It knows no BGP
// implementation: the BGP types here are its own, filled in by whoever wires the speaker.
package status
