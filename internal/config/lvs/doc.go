// Package lvs reads Keepalived's LVS section, the checker half's configuration:
// virtual_server_group, virtual_server with its real_server and sorry_server blocks, the SSL
// block and the checker blocks (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK,
// DNS_CHECK, PING_CHECK, UDP_CHECK, FILE_CHECK, BFD_CHECK and vigil's GRPC_CHECK).
//
// It owns the model (model.go, model_check.go) and the keyword tables: keywords.go for the
// virtual and real server blocks, check_keywords.go for the checkers. After Section.Finish every
// value is the effective one, defaults applied and values inherited exactly where Keepalived
// inherits them.
//
// Where a new keyword goes: one of virtual_server into VirtualServer.table, one of real_server
// into RealServer.table, with its field in model.go. The checkers' tables are kept apart on
// purpose, one function per kind (lvsHTTPKeywords, lvsMiscKeywords, ...) registered in
// lvsAddCheckerKeywords: a new checker kind is a Check* constant, a body type in model_check.go
// and one such function, and its keywords are meant to move next to the checker itself later.
//
// The section reads no other section's blocks: FILE_CHECK finds its track_file through
// Section.TrackFile, which package config supplies, and the announce block is bgpd's.
// The name is the section's and Keepalived's (its check half drives Linux Virtual Server).
package lvs
