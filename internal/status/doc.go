// Package status serves what vigil knows to people and programs: a JSON API of virtual services,
// real servers and VRRP instances, a Server-Sent Events stream of changes, Prometheus metrics and
// a live web page. It only reads: the daemon hands it snapshots and events, and nothing here
// changes a decision.
package status
