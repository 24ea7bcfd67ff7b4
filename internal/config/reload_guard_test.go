package config_test

import (
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
)

func TestRefuseReloadOnlyWhenComplaintsWouldRemoveRunningBlocks(t *testing.T) {
	const running = `
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        192.0.2.10/24
    }
}
virtual_server 127.0.0.1 8080 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 127.0.0.1 8081 {
    }
}
virtual_server 127.0.0.1 9090 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 127.0.0.1 9091 {
    }
}
`
	old, diags := configtest.Parse(t, running)
	if len(diags.List) > 0 {
		t.Fatalf("the running file has complaints: %v", diags.List)
	}
	tests := []struct {
		name   string
		next   string
		allow  bool
		refuse string // a part of the refusal, or "" when the reload is allowed
	}{
		{name: "unchanged", next: running},
		{name: "a block deleted from a clean file", next: running[:strings.Index(running, "virtual_server 127.0.0.1 9090")]},
		{name: "a typo in an address skips the block", next: strings.Replace(running, "127.0.0.1 9090", "127.0.0.300 9090", 1),
			refuse: "would remove running virtual_server [127.0.0.1]:tcp:9090"},
		{name: "the same typo, with Keepalived's behaviour asked for", next: strings.Replace(running, "127.0.0.1 9090", "127.0.0.300 9090", 1), allow: true},
		{name: "garbage", next: "\x01\x02 garbage { ; nothing\nmore garbage here\n",
			refuse: "vrrp_instance VI_1"},
		{name: "a warning that removes nothing", next: running + "\nunknown_keyword 1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, diags := configtest.Parse(t, tc.next)
			err := config.RefuseReload(old, next, diags, tc.allow)
			switch {
			case tc.refuse == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refuse != "" && err == nil:
				t.Fatalf("allowed; diagnostics %v, removed %v", diags.List, config.Removed(old, next))
			case tc.refuse != "" && !strings.Contains(err.Error(), tc.refuse):
				t.Fatalf("refusal %q does not say %q", err, tc.refuse)
			case tc.refuse != "" && !strings.Contains(err.Error(), "test.conf:"):
				t.Fatalf("refusal %q does not name the file and line", err)
			}
		})
	}
}
