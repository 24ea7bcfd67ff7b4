package vrrpd

import "github.com/vigil-lb/vigil/internal/config/syntax"

// addTrackingKeywords installs the keywords of tracking: what can take the instance down or change
// its priority.
func (b *instanceBuilder) addTrackingKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	st := b.st
	kw["track_interface"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			v.TrackInterfaces = trackInterface(p, l, v.Name, v.TrackInterfaces)
		}
	}}
	kw["dont_track_primary"] = flag(&v.DontTrackPrimary)
	kw["linkbeat_use_polling"] = flag(&v.LinkbeatUsePolling)
	kw["track_script"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			v.TrackScripts = trackRef(p, l, v.Name, v.TrackScripts, st.scriptKind())
		}
	}}
	kw["track_file"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			v.TrackFiles = trackRef(p, l, v.Name, v.TrackFiles, st.fileKind())
		}
	}}
	kw["track_process"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			v.TrackProcesses = trackRef(p, l, v.Name, v.TrackProcesses, st.processKind())
		}
	}}
	kw["track_bfd"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) { v.TrackBFDs = trackRef(p, l, v.Name, v.TrackBFDs, st.bfdKind()) }
	}}
}
