package vrrpd

import "github.com/vigil-lb/vigil/internal/config/syntax"

// addNotifyKeywords installs the keywords of notification: scripts and mail on state changes.
func (b *instanceBuilder) addNotifyKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	name := b.name
	kw["notify_backup"] = notifyKeyword(&v.NotifyBackup, b.pfx, "notify_backup script")
	kw["notify_master"] = notifyKeyword(&v.NotifyMaster, b.pfx, "notify_master script")
	kw["notify_fault"] = notifyKeyword(&v.NotifyFault, b.pfx, "notify_fault script")
	kw["notify_stop"] = notifyKeyword(&v.NotifyStop, b.pfx, "notify_stop script")
	kw["notify_deleted"] = notifyKeyword(&v.NotifyDeleted, b.pfx, "notify_deleted")
	kw["notify"] = notifyKeyword(&v.Notify, b.pfx, "notify script")
	kw["notify_master_rx_lower_pri"] = notifyKeyword(&v.NotifyMasterRxLowerPri, b.pfx, "notify_master_rx_lower_pri script")
	kw["smtp_alert"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		b, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "Invalid vrrp_instance smtp_alert parameter %s", w) })
		if ok {
			v.SMTPAlert, v.set.smtpAlert = b, true
		}
	}}
	kw["notify_priority_changes"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		b, ok := syntax.OptBool(l, func(w string) {
			p.Diags.Warnf(l.Pos, "%s Invalid value '%s' for notify_priority_changes specified", name, w)
		})
		if ok {
			v.NotifyPriorityChanges, v.set.notifyPrio = b, true
		}
	}}
}

// notifyKeyword reads a notify script keyword of an instance or group, reporting a repeat the
// way Keepalived does ("(VI_1) notify_master script already specified - ignoring X").
func notifyKeyword(dst **syntax.Script, prefix func() string, what string) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		if *dst != nil {
			p.Diags.Warnf(l.Pos, "%s %s already specified - ignoring %s", prefix(), what, w)
			return
		}
		*dst = syntax.ReadScript(l)
	}}
}
