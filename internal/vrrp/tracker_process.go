package vrrp

import (
	"context"
	"encoding/json"

	"github.com/vigil-lb/vigil/internal/track"
)

// Process tracking (vrrp_track_process, track_process): the tracked object "process:NAME" is
// up while the number of processes matching the vrrp_track_process NAME is within its
// [quorum, quorum_max] (track.Process scans /proc every second). It weighs on an instance as
// a vrrp_script does: weight 0 faults the instance while it is down (while up, with reverse),
// a positive weight is added while it is up and a negative one while it is down.

// processKind is the trackRef kind of a tracked vrrp_track_process.
const processKind = "process"

// processTrackerIDs sets in want the configuration of each vrrp_track_process an instance
// tracks (want holds the keys of the tracked objects); m.mu is held.
func (m *Manager) processTrackerIDs(want map[string]string) {
	for _, p := range m.cfg.VRRPTrackProcesses {
		k := processKind + ":" + p.Name
		if _, ok := want[k]; ok {
			b, _ := json.Marshal(p)
			want[k] = string(stripPosJSON(b))
		}
	}
}

// startProcessTrackers starts a watcher for each vrrp_track_process in want that has none;
// m.mu is held and m.ctx set.
func (m *Manager) startProcessTrackers(want map[string]string) {
	for _, p := range m.cfg.VRRPTrackProcesses {
		k := processKind + ":" + p.Name
		if id, ok := want[k]; ok && m.trackrs[k] == nil {
			w := track.NewProcess(p, m.opts.Clock, 0, "", m.log)
			m.runTracker(k, id, func(ctx context.Context) {
				w.Run(ctx, func(up bool) { m.dispatch(trackUpdate{key: k, up: up}) })
			})
		}
	}
}
