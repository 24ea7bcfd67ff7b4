// Package testenv is what vigil's tests share about their environment: polling for a state with
// a deadline (WaitFor), ports that no parallel test takes (FreePort), the requirement of root
// or a tool (RequireRoot, RequireTool: a skip for a normal user, a failure when CI is set), and
// network namespaces joined by veth pairs and bridges, or to the test's own namespace by a veth (netns.go), always torn down when the test
// ends, whether it passed or not, FRR's daemons run in such a namespace (frr.go: StartFRR, for the
// BGP and VRRP interop tests), and the process's CPU time for benchmarks (CPUTime). It also has
// what tests of servers share: a part run until the test ends, or a restart, and checked to stop
// (RunUntilCleanup), an HTTP/1.1 keep-alive connection held between requests (KeepAlive), a
// buffer for output written from several goroutines (Buffer), the configuration the tests
// of the operators' commands share (ControlConfig: a control socket, a state directory, a
// token and a VRRP instance to resign), a loopback TCP server that runs a function on each
// connection (ServeTCP; ServeTCPOn on an address of the test's choosing, stopped at will),
// a web server on another loopback address (StartBackendOn), a listener whose connects go unanswered, as a host that went silent
// (FullListener), nginx's configuration as tests run it (NginxConfig), and a loopback DNS
// server whose records a test changes, fails or truncates (StartDNS).
//
// It is imported by tests only. New tests use it instead of writing their own copies.
package testenv
