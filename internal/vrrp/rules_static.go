package vrrp

import (
	"errors"
	"slices"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/netif"
)

// staticRules resolves static_rules; a rule vigil cannot install is an error at its line.
func staticRules(cfg *config.Config) ([]netif.Rule, error) {
	if cfg == nil {
		return nil, nil
	}
	var out []netif.Rule
	var errs []error
	for _, r := range cfg.VRRPStatic.Rules {
		nr, err := toRule(r, true)
		if err != nil {
			errs = append(errs, syntax.ErrorAt(r.Pos, "static_rules: %w", err))
			continue
		}
		out = append(out, nr)
	}
	return out, errors.Join(errs...)
}

// setStaticRules moves the host from old's static_rules to next's: the rules only in old are
// removed, next's are (re)installed. Run passes a nil old when it starts and a nil next when
// it stops, since Keepalived also removes its static rules at shutdown. The configurations
// were checked by build, so a rule that does not resolve here is skipped.
func (m *Manager) setStaticRules(old, next *config.Config) {
	was, _ := staticRules(old)
	want, _ := staticRules(next)
	for _, r := range was {
		if !slices.Contains(want, r) {
			if err := m.host.DeleteRule(r); err != nil {
				m.log.Error("static rule not removed", "rule", r.String(), "error", err)
			}
		}
	}
	for _, r := range want {
		if err := m.host.AddRule(r); err != nil {
			m.log.Error("static rule not added", "rule", r.String(), "error", err)
		}
	}
	if next != nil {
		for _, r := range next.VRRPStatic.Rules {
			if slices.Contains(r.Words, "track_group") {
				m.log.Warn("static rule's track_group is not followed: the rule stays whatever the group's state", "pos", r.Pos.String())
			}
		}
	}
}
