// Package config reads a Keepalived configuration file into vigil's typed model, Config, and
// ties together what its sections read.
//
// The work is shared out:
//
//   - syntax is the language, knowing no keyword: the lexer, the keyword-table engine, the value
//     readers and the Diagnostics (config.Pos, Diagnostic, Diagnostics, Error and Warning are
//     its types, under the names Load's users know);
//   - one package per section owns its model and its keyword tables: globaldefs (global_defs and
//     the process-wide keywords), vrrpd (Keepalived's VRRP half), lvs (its checker half:
//     virtual servers, real servers and checkers) and bgpd (vigil's bgp block);
//   - config assembles the top-level table from the sections' (load.go), runs each section's
//     Finish, copies what they read into Config, and checks what one section says of another
//     (crosscheck.go): track_virtual_server naming virtual servers, FILE_CHECK naming a
//     track_file (answered while reading, through lvs.Section.TrackFile), announce
//     only_while_master naming a vrrp_instance.
//
// A new keyword goes into its section's package (each doc.go says where); only a reference
// between sections comes here. Config's JSON form (`vigil dump-config`) is a public interface
// (docs/dump-config.md): its fields keep their names and order, whichever package types them.
//
// Problems are reported as Diagnostics with file:line, in the order and, where we can, the
// words Keepalived itself uses. A warning means the configuration is still usable (Keepalived
// would run it, ignoring the line); an error means it is not. Removed and RefuseReload
// (reload_guard.go) say what a reload would stop, and when that must be refused.
package config
