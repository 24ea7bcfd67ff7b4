// Package check holds the checkers, Keepalived's and vigil's, one file per kind named for it
// (tcp_check.go; http_check.go for HTTP_GET and SSL_GET, with http_request.go writing the
// request, http_reply.go reading the answer, http_poll.go its polled path and http_block.go
// its block, the one kind large enough to be split; ping_check.go with the shared ICMP sockets of package icmp...), each a probe.Checker. A
// checker knows how to probe one target one way and what the answer means; when and how often
// it runs, retries and the sockets it borrows are the engine's, package probe.
//
// Each kind's file (or files) also owns the kind's configuration block: a Kind (TCPKind, HTTPKind...)
// whose keyword table, built on package config/syntax's engine and value readers, reads the
// block straight into the options the checker runs with (TCPOptions, HTTPOptions... with
// regular expressions compiled and hex strings decoded as the line is read), so that a mistake
// is reported at its line by the parser, once, and `vigil -t` and start build the checker from
// the very same value (Options.New). What every block shares (connect_ip, connect_timeout,
// retry, delay_loop, alpha...) is package config/lvs's; it reaches New as Env.
//
// # Adding a checker
//
// A new kind, say MYSQL_CHECK, touches four files:
//
//  1. mysql_check.go: MySQLOptions with JSON tags (what `vigil dump-config` shows under the
//     kind's key; a compiled value marshals as the text it was written as), MySQLKind (its
//     Name, JSON key, the SharedKeywords it takes, and a Block function that installs its
//     keywords, reporting bad values in Keepalived's manner at their line), MySQLOptions.New,
//     and the checker itself (Kind, Target, Key, Check; StartProbe too if it can be polled);
//  2. mysql_check_test.go: the block read with readBlock, and the checker against a real server;
//  3. internal/config/lvs/check_keywords.go: MySQLKind added to checkerKinds;
//  4. docs/configuration.md: the block and its keywords, marked as vigil's when Keepalived has
//     no such checker.
//
// Nothing in package lb, the model of package lvs or the daemon changes: they handle every
// kind through Kind, Options and Env. That holds for a checker whose answer is a verdict (with
// a weight, as MISC_CHECK's misc_dynamic); AGENT_CHECK's answer is more, an admin state and a
// weight in percent, or no verdict at all, and its first addition needed the engine's Result
// to carry it (probe.Result's NoVerdict and Agent), the pool to hold it (pool.Service.Agent)
// and package lb to hand it over: a second kind of that sort would not.
//
// # Polled probes
//
// TCP_CHECK (with or without vigil's dialogue: tcp_dialogue.go reads what the server sends) and
// plain HTTP_GET over HTTP/1 are also probe.PolledCheckers: beside Check, which runs on a
// goroutine, they start a probe on a socket the engine lends (StartProbe) and hand back what is
// left as a probe.Pending that the engine's poller moves on, so that under the scheduler they
// run without a goroutine of their own. A PROXY protocol header (proxy_header.go) is written
// first by either way. SSL_GET and HTTP/2 (golang.org/x/net/http2) run on a goroutine.
//
// A HTTP_GET with reuse_connection keeps its connection between polled probes in a
// probe.KeptSocket, which the scheduler closes once it no longer runs the checker
// (probe.Releaser); a probe on a goroutine, which runs only when the poller failed, connects
// each time.
package check
