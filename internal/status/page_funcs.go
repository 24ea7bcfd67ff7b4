package status

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// The page's small charts, drawn as inline SVG so that the page needs no script to show them
// (page.html's script draws the same from the JSON when it refreshes).
const (
	sparkWidth, sparkHeight       = 120, 24
	timelineWidth, timelineHeight = 160, 14
)

// sparkline draws a check's recent probes' latencies, the newest at the right edge, a failed
// probe as a red dot; empty without probes.
func sparkline(ps []Probe) template.HTML {
	if len(ps) == 0 {
		return ""
	}
	top, low := ps[0].Latency, ps[0].Latency
	for _, p := range ps {
		top, low = max(top, p.Latency), min(low, p.Latency)
	}
	step := float64(sparkWidth-4) / float64(ProbeHistory-1)
	x := func(i int) float64 { return 2 + step*float64(i+ProbeHistory-len(ps)) }
	y := func(d time.Duration) float64 {
		if top <= 0 {
			return sparkHeight - 2
		}
		return sparkHeight - 2 - float64(d)/float64(top)*(sparkHeight-4)
	}
	var pts, fails strings.Builder
	for i, p := range ps {
		fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(p.Latency))
		if !p.Healthy {
			fmt.Fprintf(&fails, `<circle class="fail" cx="%.1f" cy="%.1f" r="2"/>`, x(i), y(p.Latency))
		}
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	title := fmt.Sprintf("last %d probes: %s to %s, last %s", len(ps), ms(low), ms(top), ms(ps[len(ps)-1].Latency))
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><title>%s</title><polyline points="%s"/>%s</svg>`,
		sparkWidth, sparkHeight, sparkWidth, sparkHeight, title, title, strings.TrimSpace(pts.String()), fails.String()))
}

// timeline draws a real server's states over the TimelineWindow that ends at now (or at its
// last change, if later), one coloured segment per state; empty without changes.
func timeline(cs []StateChange, now time.Time) template.HTML {
	if len(cs) == 0 {
		return ""
	}
	end := now
	if last := cs[len(cs)-1].At; last.After(end) {
		end = last
	}
	start := end.Add(-TimelineWindow)
	pos := func(t time.Time) float64 {
		if t.Before(start) {
			t = start
		}
		return float64(t.Sub(start)) / float64(TimelineWindow) * timelineWidth
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="last hour">`,
		timelineWidth, timelineHeight, timelineWidth, timelineHeight)
	for i, c := range cs {
		to := end
		if i+1 < len(cs) {
			to = cs[i+1].At
		}
		// A state that lasted less than a pixel still shows, as one pixel.
		x := min(pos(c.At), timelineWidth-1)
		w := max(pos(to)-x, 1)
		label := template.HTMLEscapeString(c.Label())
		fmt.Fprintf(&b, `<rect class="seg %s" x="%.1f" y="0" width="%.1f" height="%d"><title>%s from %s</title></rect>`,
			label, x, w, timelineHeight, label, c.At.UTC().Format("15:04:05"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// humanBytes writes a byte count as the page shows it: 1.5 MiB.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// actions are the buttons that put real server rs of vs (every real server of vs when rs is
// empty) in drain, maint or ready through the write API.
func actions(vs, rs string) template.HTML {
	var b strings.Builder
	for _, st := range []string{AdminDrain, AdminMaint, AdminReady} {
		fmt.Fprintf(&b, `<button type="button" class="act" data-vs="%s"`, template.HTMLEscapeString(vs))
		if rs != "" {
			fmt.Fprintf(&b, ` data-rs="%s"`, template.HTMLEscapeString(rs))
		}
		fmt.Fprintf(&b, ` data-state="%s">%s</button> `, st, st)
	}
	return template.HTML(strings.TrimSpace(b.String()))
}
