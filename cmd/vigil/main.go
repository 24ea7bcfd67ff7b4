// Command vigil keeps a pool of servers available: it health-checks real servers, steers traffic
// to the healthy ones and moves virtual addresses between load balancers with VRRP. It reads
// Keepalived's configuration files.
//
// Usage:
//
//	vigil [-f FILE] [flags]         run the daemon (Keepalived's flags are accepted)
//	vigil -t [-f FILE] [--strict]   test a configuration: print file:line: level: message lines
//	vigil dump-config [-f FILE]     print the resolved configuration as JSON
//	vigil demo                      run a self-contained demo on loopback
//	vigil status [--status-url URL] print the running daemon's pools and VRRP instances
//	vigil ctl COMMAND ARGS...       drain, maint, ready, weight, resign: an operator's command
//	                                to the running daemon (its control socket, or --url)
//	vigil version                   print the version
package main

import (
	"os"
)

func main() {
	routeLibraryLogs()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
