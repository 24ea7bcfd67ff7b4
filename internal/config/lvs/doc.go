// Package lvs reads Keepalived's LVS section, the checker half's configuration:
// virtual_server_group, virtual_server with its real_server and sorry_server blocks, the SSL
// block and the checker blocks, whose kinds are listed in checkerKinds.
//
// It owns the model (model.go, model_check.go) and the keyword tables: keywords.go for the
// virtual and real server blocks, check_keywords.go for what every checker block shares. After
// Section.Finish every value is the effective one, defaults applied and values inherited exactly
// where Keepalived inherits them.
//
// Where a new keyword goes: one of virtual_server into VirtualServer.table, one of real_server
// into RealServer.table, with its field in model.go. A checker block is split in two: the
// keywords every checker shares (connect_ip, connect_port, bindto, bind_port, bind_if,
// connect_timeout, fwmark, retry, delay_before_retry, warmup, delay_loop, alpha,
// log_all_failures, and SMTP_CHECK's legacy host blocks) are read here into Checker; the rest is
// the kind's own, read by the kind's table in package check (check.Kind) straight into the
// options its checker runs with, which Checker.Options holds. A new checker kind is one entry of
// checkerKinds (check_keywords.go); its keywords go into its own file in package check.
//
// The section reads no other section's blocks: FILE_CHECK finds its track_file through
// Section.TrackFile, which package config supplies, and the announce block is bgpd's.
// The name is the section's and Keepalived's (its check half drives Linux Virtual Server).
package lvs
