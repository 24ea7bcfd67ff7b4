// Package netlab builds small network labs for integration tests: network namespaces and veth
// pairs between them and the test's own namespace, with addresses from the documentation
// ranges. Everything it creates is removed in t.Cleanup, in reverse order, even when the test
// fails. It shells out to iproute2 (`ip`), so tests that use it need root and the ip command;
// Require says so and skips, or fails when the environment variable CI is set.
//
// netlab is for tests only; no product code imports it.
package netlab
