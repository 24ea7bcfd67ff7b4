// Package lb is vigil's load-balancing half (Keepalived's checker process): it turns a
// configuration's virtual servers into scheduler jobs (internal/probe, running the checkers of
// internal/check), one pool.Service per virtual server and its data plane services (one, or one
// per address and firewall mark of a virtual_server_group, named "VS @ MEMBER"), carries check
// reports to the pools and the pools' decisions to the data plane, and keeps each virtual
// server's serving state: what the data plane installed is read back (Reconcile) and an
// optional self probe goes through it.
//
// It calls none of its observers. What it decides is published on its bus (Half.Events, see
// events.go): pool events (a notify script to run rides on them), each virtual server's state
// after a change, and notes (a repair, a data plane error, serving or not). The supervisor wires
// the subscribers: metrics, the event stream, notify scripts, VRRP's pool tracking and BGP.
//
// A reload is a diff: an unchanged real server keeps its checks' timers and counters and its
// place in the pool. Listen applies every virtual server once before anything runs, so that a
// listener that cannot bind stops vigil at start.
//
// Where things are: half.go runs the half (New, Listen, Run, Reload, the reports' path to the
// pools and the pools' to the data plane); plan.go turns a configuration into what the half
// runs (virtual servers, jobs, data plane services); snapshot.go is what the status shows;
// admin.go the operators' commands, discovery.go members from DNS, passive.go passive health,
// serving.go serving truth, checkers.go and pingers.go the checkers' construction.
package lb
