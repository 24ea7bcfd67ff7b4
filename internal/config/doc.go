// Package config reads Keepalived's configuration language into vigil's typed model.
//
// Reading happens in two stages:
//
//   - the lexer (lexer.go and friends) turns files into a flat list of Lines: comments removed,
//     includes followed, @conditional lines selected, $DEFINITIONS substituted and ~SEQ lines
//     replicated, every word carrying the file and line it came from;
//   - the parser (parser.go) walks those lines with keyword tables (one table per kind of block,
//     in the *_keywords.go files) that fill the model types (model*.go).
//
// Problems are reported as Diagnostics with file:line, in the order and, where we can, the words
// Keepalived itself uses. A warning means the configuration is still usable (Keepalived would run
// it, ignoring the line); an error means it is not.
package config
