// Package clock is the time source that vigil's decision code is given instead of calling
// time.Now: Real for the daemon, Fake for tests that must step time by hand and see timers
// fire in a known order.
package clock
