// Package globaldefs reads Keepalived's global_defs block and the other process-wide top-level
// keywords (net_namespace, instance, use_pid_dir, ...) into Defs, with Keepalived's defaults
// (Default) and vigil's own extensions, which are listed on Defs.
//
// It owns the model (defs.go) and the keyword tables (keywords.go): a new global_defs keyword
// goes into globalTable, a new process-wide top-level keyword into AddTopKeywords, and its field
// into Defs. Keywords Keepalived knows but vigil does not do go in globalUnsupported, with why:
// each is a warning at its line ("vigil does not support KEYWORD: why") and is kept as written
// in Defs.Accepted.
//
// The name says what it reads (the global_defs block), and leaves "global" to its users.
// Every other section may read Defs (the VRRP instances take their defaults from it), so this
// package imports none of them.
package globaldefs
