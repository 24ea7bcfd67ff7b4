// Package e2e proves vigil's health checking end to end: each test writes a Keepalived
// configuration, loads it with config.Load, runs the real daemon and breaks a real server
// (nginx, dnsmasq, an SMTP listener, a host in a network namespace, hung and hostile peers),
// then asserts that the server leaves its pool within the bound the configuration implies and
// comes back after the configured successes. It also proves BGP anycast against a real FRR
// router with ECMP: two vigil processes announce one address, one loses quorum and its path is
// withdrawn while a client keeps connecting, and the path returns after the hold-down
// (bgp_frr_test.go; docs/bgp.md has the setup and the numbers). The package has tests only.
//
// The removal bound, for delay_loop D, retry R, delay_before_retry B and timeout T: the failure
// begins after some probe started, so the next probe starts at most D later (1.05·D with the
// scheduler's ±5% jitter) and fails within T; each of the R retries starts at most
// max(1.05·B, T) after the previous probe started, and the last one fails within T. So
//
//	removal <= 1.05·D + R·(1.05·B + T) + T
//
// plus a slack for polling and goroutine scheduling on a loaded 2-core machine. The return
// bound for rise N (a vigil extension, default 1) is N probes: the first within 1.05·D of the
// repair, the others 1.05·D apart, the last one taking at most T, plus the same slack.
package e2e
