// Package bgp announces vigil's virtual addresses to routers over BGP while their pools can
// serve them, so that several active load balancers behind ECMP routers each draw traffic
// only while healthy. The BGP protocol is GoBGP's (github.com/osrg/gobgp/v3), embedded as a
// library; this package decides what to announce and when, and carries it out.
//
// # Model
//
// The daemon names each virtual server by a key and tells the Speaker what its pool can do:
// Announce(key, route, why) when the pool gains quorum, Withdraw(key, prefix, why) when it
// loses it (or starts without it), Remove(key, why) when the virtual server leaves the
// configuration. A planner (plan.go, pure, driven by the time it is given) turns those calls
// into changes:
//
//   - Hold-down: a prefix changes at most once per hold_down. A withdraw that comes sooner
//     after the announce waits until the hold-down ends and is dropped if the pool recovers
//     meanwhile; an announce soon after a withdraw waits likewise. The first announce of a
//     key, attribute changes (communities, MED, local preference) and a new address under a
//     key are not flaps and go at once.
//   - Withdraw cap: at most max_withdraw withdrawals within one window (hold_down, or one
//     second if shorter). The rest wait for the next window, in order of due time, and are
//     dropped if their pools recover. The cap slows a mass withdrawal (all pools failing at
//     once usually means vigil's own network failed, not every backend) without preventing
//     it: a node that really cannot serve stops drawing traffic a few windows later.
//   - Shutdown (Run's context ends): everything is withdrawn at once, past hold-down and
//     cap; the sessions stay up for GracefulShutdownWait so the routers move traffic to the
//     other nodes, then they are closed with a Cease and the server stops.
//
// Several keys may name one prefix (virtual servers on one address with different ports).
// The prefix is in GoBGP only while every one of them is announced: a router would otherwise
// keep sending the failed port's traffic to a node that cannot serve it. Its attributes are
// those of the first such key by name. Hold-down and the cap count per key.
//
// # Observing
//
// Subscribe hands out every Change as it happens: a prefix entering or leaving GoBGP's RIB
// (what the neighbors are offered, with the key and reason that moved it) and a session
// changing state (from GoBGP's peer-state watch). Changes are queued under the speaker's lock
// and delivered in order by a goroutine of Run, so a subscriber never holds up the speaker
// and may call it.
//
// Routes are originated with origin IGP and an unspecified next hop, which GoBGP replaces by
// the session's local address. Both unicast families are enabled on every session.
//
// # Configuration (proposed vigil extension; not parsed yet)
//
// In global_defs or at top level, one block:
//
//	bgp {
//	    local_as 65001
//	    router_id 192.0.2.1
//	    listen_port -1              # default -1: connect out only; 0 means 179
//	    hold_down 5                 # seconds, default 5
//	    max_withdraw 10             # default 0: no cap
//	    graceful_shutdown_wait 5    # seconds, default 5
//	    neighbor 192.0.2.254 {
//	        remote_as 65000
//	        password SECRET         # TCP MD5
//	        hold_time 9             # seconds; keepalive defaults to a third
//	        keepalive 3
//	        port 179
//	        source_address 192.0.2.1
//	    }
//	}
//
// and per virtual_server whose address should be announced (fwmark and group services are
// not announced):
//
//	virtual_server 192.0.2.10 80 {
//	    announce {
//	        community 65001:100     # repeatable
//	        med 10
//	        local_pref 200          # iBGP only
//	    }
//	    ...
//	}
//
// The route is the virtual server's address as a /32 or /128. Without an announce block the
// virtual server is not announced.
//
// # Limits
//
// GoBGP's StartBgp writes package-level route-selection settings that every GoBGP server in
// the process reads, so a process runs one Speaker at a time (tests start theirs one after
// the other, before any session). GoBGP's Serve loop cannot be ended: each Run leaves one
// idle goroutine behind, so a configuration reload should keep the Speaker and only change
// routes, unless the bgp block itself changed.
package bgp
