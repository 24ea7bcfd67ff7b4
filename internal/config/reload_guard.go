package config

import (
	"fmt"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Removed lists what a reload from running to next would stop: the virtual servers and VRRP
// instances of running that next no longer has, named as the status API names them
// ("virtual_server [192.0.2.10]:tcp:80", "vrrp_instance VI_1"). running is the configuration
// each half runs; a nil one has nothing to remove.
func Removed(running, next *Config) []string {
	if running == nil {
		return nil
	}
	var out []string
	keepVS := map[string]bool{}
	for _, vs := range next.VirtualServers {
		keepVS[vs.Name()] = true
	}
	for _, vs := range running.VirtualServers {
		if !keepVS[vs.Name()] {
			out = append(out, "virtual_server "+vs.Name())
		}
	}
	keepVI := map[string]bool{}
	for _, v := range next.VRRPInstances {
		keepVI[v.Name] = true
	}
	for _, v := range running.VRRPInstances {
		if !keepVI[v.Name] {
			out = append(out, "vrrp_instance "+v.Name)
		}
	}
	return out
}

// RefuseReload says why a reload must not be applied, or returns nil. A file with complaints
// (warnings or errors) that would remove running blocks is refused: a typo that made the
// parser skip a block, or a file that is not a configuration at all, must not take the
// service or the address down. The error names the first complaint's line and what would
// go. A file without complaints may remove blocks: deleting a block is how one stops it.
// allowRemovals (global_defs reload_remove_despite_complaints) restores Keepalived's
// behaviour, which applies such a file anyway.
func RefuseReload(running, next *Config, diags *syntax.Diagnostics, allowRemovals bool) error {
	if len(diags.List) == 0 || allowRemovals {
		return nil
	}
	gone := Removed(running, next)
	if len(gone) == 0 {
		return nil
	}
	// Name the first complaint that has a line; some (unbalanced braces) name only the file.
	first := diags.List[0]
	for _, d := range diags.List {
		if d.Pos.Line > 0 {
			first = d
			break
		}
	}
	shown := gone
	if len(shown) > 5 {
		shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(gone)-5))
	}
	return fmt.Errorf("the new file has %d complaint(s), the first at %s (%s), and would remove running %s; "+
		"fix the file, or set reload_remove_despite_complaints in global_defs to apply such files as Keepalived does",
		len(diags.List), first.Pos, first.Message, strings.Join(shown, ", "))
}
