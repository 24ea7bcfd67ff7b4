// Package daemon wires vigil together: it turns a config.Config into scheduler jobs, one
// pool.Service per virtual server and data plane services, carries check reports to the pools
// and the pools' decisions to the data plane, runs notify scripts, and feeds the status page.
// A reload is a diff: an unchanged real server keeps its checks' timers and counters and its
// place in the pool.
package lb
