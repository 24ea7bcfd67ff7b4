// Package pool decides which backends of one virtual service are in, and with what weight.
//
// A Service is pure: it takes check verdicts (Observe), the passing of time (Tick), the
// virtual address coming and going (SetAddressLocal), reloads (Reconfigure) and shutdown
// (Stop), each with the time as an argument, and returns Events. Desired is the set of
// weighted backends the data plane should apply. No goroutines, no clock, no I/O: the daemon
// maps configuration and check results in and runs the scripts the events name. Every change
// of Desired is carried, as Changes, by an event that says why (which server, which check,
// what it saw, which numbers crossed what), and applying the Changes of one call's events in
// order turns the previous Desired into the new one.
//
// # Keepalived's semantics (keepalived/check/ipwrapper.c, check_api.c, check_data.c)
//
// Real server state. A server is up when every one of its checks is up; a server with no
// checks is always up. A check starts up, or with alpha down until its first success. The
// checks' retries are the scheduler's business: an Observation is a verdict after them.
// notify_up and notify_down are named in ServerUp and ServerDown. Keepalived has one more
// rule, kept here as ServerConfirmed: the first result of a check that agrees with the state
// it started in runs the server's notify script anyway if the check is alpha or the result
// is a failure; so at start-up each alpha check whose first result fails runs notify_down,
// although the server never was up.
//
// Weight. A server's effective weight is its configured weight plus the share of each check:
// a MISC_CHECK with misc_dynamic asks for weight status-2 (WeightSet: the share is the value
// minus the configured weight), a FILE_CHECK adds its number times its weight (WeightAdd). A
// failed verdict clears the check's share. The data plane gets the effective weight clamped
// to 0..MaxWeight. With inhibit_on_failure a down server stays in the set at weight 0
// instead of leaving it.
//
// Quorum. The live weight is the sum of the clamped effective weights of the up servers.
// Quorum (default 1) is gained when the live weight reaches quorum+hysteresis and lost when
// it falls below quorum-hysteresis; at start-up it is up if the live weight reaches
// quorum+hysteresis. As Keepalived does when it reads the configuration, a quorum above the
// total configured weight is lowered to it, and hysteresis is lowered to quorum-1 (the
// Snapshot's Notes say so). quorum_up and quorum_down are named in QuorumGained and
// QuorumLost. Keepalived runs quorum_down at start-up only when a sorry server is configured,
// and so does the event's Script.
//
// Sorry server. While quorum is down and a sorry_server is configured, the sorry server is
// in at its weight (Keepalived's is always 1) and the real servers are out: removed, or at
// weight 0 with inhibit_on_failure, whatever their state; they come back when quorum does.
// Without a sorry server, losing quorum changes nothing in the set: only the script runs.
// With sorry_server_inhibit the sorry server stays at weight 0 while not needed. An empty
// pool never has quorum, so its sorry server is in.
//
// Shutdown. Stop(StopShutdown) empties the set; with omega the events name notify_down for
// each server up and in the set, and quorum_down, even if quorum was already down.
// Stop(StopRemoved), for a virtual server a reload removed, names notify_down and (if quorum
// was up) quorum_down whatever omega says, as Keepalived does.
//
// ha_suspend. While the virtual address is not local, Keepalived disables the checkers and
// leaves the pool as it is; here the daemon tells SetAddressLocal, Suspended says whether to
// pause the checks, and observations arriving meanwhile are ignored as stale.
//
// # Where vigil differs from Keepalived or goes further
//
//   - Rise (vigil): a check that is down needs Rise successes in a row to be up again (also
//     an alpha check at start-up). The default, 1, is Keepalived's behaviour.
//   - SlowStart (vigil): a server that comes back up (not one that starts up) gets weight
//     max(1, k/10 of its weight) for step k of 10 equal steps over the duration, then its
//     full weight. The set is then a function of time: NextChange says when, Tick applies it.
//     Quorum counts the full weight: a ramping server is healthy.
//   - PanicThreshold (vigil): when fewer than that percentage of the real servers are up, all
//     of them are kept in at their effective weight, ignoring checks, inhibit and slow start,
//     and PanicOn is emitted; PanicOff when enough are up again. Panic keeps the real servers
//     rather than switching to the sorry server: it exists for checks that are wrong, and
//     quorum, its events and its scripts still follow the checks. Panic never engages while
//     an alpha check has yet to report, so that alpha's start-up caution holds.
//   - Admin state (vigil, HAProxy's model; admin.go): an operator puts a real server in drain
//     (it stays in the set at weight 0 while it passes its checks: no new connections, its
//     established ones finish) or maint (out of the set, as a failed server, whatever
//     inhibit_on_failure says), or overrides its weight (in place of the configured weight
//     and the dynamic checks' shares), with who and why (SetAdmin, SetWeight; RestoreAdmin
//     after a restart). The checks keep running and their verdict, notify scripts included,
//     is reported as ever. A drained or maintained server is out of the live weight, so quorum
//     and the sorry server follow; panic is decided among the ready servers only and never
//     brings back a server the operator took out. A server back to ready ramps up with slow
//     start. A reload keeps the admin state of every server still configured.
//   - Holds (vigil; holds.go): besides the operator, a server's agent (AGENT_CHECK: Agent, its
//     state and a weight in percent of the configured weight) and discovery (Hold: a member
//     gone from DNS, drained before it is removed) may hold a server in drain or maint. The
//     state in force is the most restrictive word, and each lifts only its own: an operator's
//     maint stands whatever the agent says. The weight is the operator's override, else the
//     agent's percentage, else the configured weight and the checks' shares. A reload keeps
//     them; they are not saved across a restart (the agent and DNS say them again).
//   - Members (vigil; members.go): AddServer and RemoveServer add and remove one server
//     between reloads, for discovery, with quorum recounted as a reload does.
//   - Passive health (vigil): the data plane reports connections to a real server that
//     failed (ObserveFailure); after Passive.ConsecutiveFailures in a row a server whose
//     checks pass is ejected, kept in the set at weight 0 until its next check verdict, within
//     Passive.MaxEjectionPercent of the servers (at least one) and never below the panic
//     threshold or down to no server. Only a ready server (admin state) is ejected, and an
//     operator's drain or maint ends an ejection. Quorum and the scripts follow the checks;
//     panic counts ejected servers as unusable. See passive.go.
//   - Reload: by our reading of clear_diff_rs and migrate_checkers, Keepalived carries a
//     server's old effective weight over a reload (an edited weight keyword does not apply
//     until a dynamic check changes it), and lets an alpha check that had not yet run come
//     up without a success when another check of the server has run; vigil applies the new
//     weight and keeps a pending alpha check down. vigil emits one event per transition
//     where Keepalived may run quorum_down twice when a reload removes servers.
//   - A sorry server that is also a real server is refused; Keepalived merges them.
//   - With no real servers at all Keepalived lowers quorum to 0; vigil keeps it at 1.
package pool
