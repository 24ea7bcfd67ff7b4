// Package track watches what VRRP instances track and reports each change: vrrp_script
// programs run every interval through notify.Runner with rise/fall hysteresis (Script), and
// track_file files whose number is read on every change (File), and vrrp_track_process
// process counts read from /proc every second against a quorum (Process). Interface state comes from
// netif.WatchLinks. The weights and faults these reports mean for an instance are the vrrp
// package's to apply.
package track
