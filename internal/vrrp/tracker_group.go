package vrrp

import (
	"encoding/json"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// A sync group's track_interface, track_script, track_file and track_process entries are
// tracked by every member, as Keepalived adds them to each member: an entry both list keeps
// the instance's, with the group's weight unless the instance's is 0 (then it still faults).
// Without sync_group_tracking_weight the config has already set the group's weights to 0.

// syncGroupOf returns the sync group v belongs to, nil if none.
func syncGroupOf(c *config.Config, v *vrrpd.Instance) *vrrpd.SyncGroup {
	if v.SyncGroup == "" {
		return nil
	}
	for _, g := range c.VRRPSyncGroups {
		if g.Name == v.SyncGroup {
			return g
		}
	}
	return nil
}

// trackRefsOf turns track_script, track_file or track_process entries into tracked objects.
func trackRefsOf(kind string, refs []*vrrpd.TrackRef) []trackRef {
	out := make([]trackRef, 0, len(refs))
	for _, t := range refs {
		out = append(out, trackRef{kind: kind, name: t.Name, weight: t.Weight, reverse: t.WeightReverse})
	}
	return out
}

// interfaceRefsOf turns track_interface entries into tracked objects.
func interfaceRefsOf(ifs []*vrrpd.TrackedInterface) []trackRef {
	out := make([]trackRef, 0, len(ifs))
	for _, t := range ifs {
		out = append(out, trackRef{kind: "interface", name: t.Name, weight: t.Weight, reverse: t.WeightReverse})
	}
	return out
}

// withGroupTracks returns own followed by the group's entries of the same kind that own lacks;
// an entry in both takes the group's weight unless own's is 0.
func withGroupTracks(own, group []trackRef) []trackRef {
	out := append([]trackRef(nil), own...)
	at := map[string]int{}
	for i, t := range out {
		at[t.name] = i
	}
	for _, t := range group {
		if i, ok := at[t.name]; ok {
			if out[i].weight != 0 {
				out[i].weight = t.weight
			}
			continue
		}
		at[t.name] = len(out)
		out = append(out, t)
	}
	return out
}

// groupTracks are v's tracked interfaces, scripts, files and processes with its sync group's.
func groupTracks(c *config.Config, v *vrrpd.Instance) []trackRef {
	g := syncGroupOf(c, v)
	if g == nil {
		g = &vrrpd.SyncGroup{}
	}
	var out []trackRef
	out = append(out, withGroupTracks(interfaceRefsOf(v.TrackInterfaces), interfaceRefsOf(g.TrackInterfaces))...)
	out = append(out, withGroupTracks(trackRefsOf("script", v.TrackScripts), trackRefsOf("script", g.TrackScripts))...)
	out = append(out, withGroupTracks(trackRefsOf("file", v.TrackFiles), trackRefsOf("file", g.TrackFiles))...)
	out = append(out, withGroupTracks(trackRefsOf(processKind, v.TrackProcesses), trackRefsOf(processKind, g.TrackProcesses))...)
	return out
}

// groupTracksKey is the part of an instance's reload key that its own block lacks: what its
// sync group tracks.
func groupTracksKey(c *config.Config, v *vrrpd.Instance) string {
	g := syncGroupOf(c, v)
	if g == nil || len(g.TrackInterfaces)+len(g.TrackScripts)+len(g.TrackFiles)+len(g.TrackProcesses) == 0 {
		return ""
	}
	b, _ := json.Marshal(struct {
		I       []*vrrpd.TrackedInterface
		S, F, P []*vrrpd.TrackRef
	}{g.TrackInterfaces, g.TrackScripts, g.TrackFiles, g.TrackProcesses})
	return " group tracks " + string(stripPosJSON(b))
}
