// Package configtest parses configuration text for the tests of the section packages
// (globaldefs, vrrpd, lvs, bgpd), through config.Parse as vigil reads a file: a section's
// messages depend on the whole file (global_defs defaults, references between sections).
package configtest
