// Package testenv is what vigil's tests share about their environment. It is imported by tests
// only; new tests use it instead of writing their own copies.
//
// The environment:
//   - waiting for a state with a deadline (WaitFor, WaitSince, Eventually; wait.go);
//   - ports that no parallel test takes (FreePort; port.go);
//   - what a test requires: root or a tool (RequireRoot, RequireTool; require.go), the
//     steering repository's shared/ folder of Keepalived's samples and real configurations
//     (SharedDir; shared.go); a skip for a normal user, a failure when CI is set (Unavailable);
//   - network namespaces joined by veth pairs and bridges, or to the test's own namespace by a
//     veth (NewNamespace, Veth, Bridge, Attach, NewHostVeth; netns.go), always torn down when
//     the test ends, whether it passed or not, and an HTTP client that dials from inside one
//     (Namespace.HTTPClient);
//   - the process's CPU time, for benchmarks (CPUTime; cpu.go).
//
// The peers and parts tests run:
//   - FRR's daemons in a namespace (StartFRR; frr.go), for the BGP and VRRP interop tests;
//   - a part run until the test ends, or a restart, and checked to stop (RunUntilCleanup);
//   - a loopback web server whose health can fail (StartBackend, StartBackendOn; backend.go);
//   - a loopback TCP server that runs a function on each connection (ServeTCP, ServeTCPOn), and
//     a listener whose connects go unanswered, as a host that went silent (FullListener);
//   - a loopback DNS server whose records a test changes, fails or truncates (StartDNS);
//   - nginx's configuration as tests run it (NginxConfig);
//   - an HTTP/1.1 keep-alive connection held between requests (DialKeepAlive), and a buffer for
//     output written from several goroutines (Buffer);
//   - the configuration the tests of the operators' commands share (ControlConfig: a control
//     socket, a state directory, a token and a VRRP instance to resign).
package testenv
