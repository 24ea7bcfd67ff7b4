// Package bus hands what one part of vigil publishes to the parts that subscribe to it, each on
// its own goroutine, outside the publisher's locks: the load-balancing half publishes its
// virtual servers' events and states, and metrics, the event stream, notify scripts, VRRP's
// pool tracking and BGP's announcements each subscribe.
//
// Publish never blocks. A subscriber sees what was published in order, except that a value
// published with a key replaces one with the same key it has not been handed yet: a subscriber
// that falls behind sees the latest state of each virtual server, not every intermediate one,
// while keyless values (events that each count, such as a notify script to run) are all
// delivered.
package bus
