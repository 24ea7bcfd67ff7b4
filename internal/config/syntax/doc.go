// Package syntax is Keepalived's configuration language, knowing no keyword: where a line came
// from (Pos, Line), what is said about it (Diagnostic), how files become lines (the lexer), how
// lines are walked with keyword tables (the parser), and how the words of a line are read as
// values (the value readers).
//
// Reading happens in two stages:
//
//   - the lexer (Lex, LexBytes; lexer*.go) turns files into a flat list of Lines: comments
//     removed, includes followed, @id conditional lines selected, $DEFINITIONS substituted and
//     ~SEQ/~LST lines replicated, every word carrying the file and line it came from;
//   - the parser (Parse; parser.go) walks those lines with keyword Tables, as Keepalived's own
//     parser does: a Keyword takes its arguments from its line (Scalar), opens a block read with
//     another Table (Block), or opens a block of free-form lines (Values). It reports what the
//     language itself gets wrong: unknown keywords, braces that are missing, unexpected or extra.
//
// The tables themselves belong to the packages of the sections they read (globaldefs, vrrpd,
// lvs, bgpd); package config puts them together. A new keyword goes into its section's package,
// never here; a new kind of value (a number, an address...) goes here, as a reader named for
// what it reads (values*.go), reporting what Keepalived's reader of that kind reports.
//
// Problems are Diagnostics with file:line, in the order and, where we can, the words Keepalived
// itself uses. A warning means the configuration is still usable (Keepalived would run it,
// ignoring the line); an error means it is not. PosError carries a position for the refusals of
// the code that builds what a configuration asks for, so that `vigil -t` can report them at
// their line.
package syntax
