package lvs_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/internal/configtest"
	"github.com/vigil-lb/vigil/internal/config/lvs"
)

func TestDynamicRealServersBlockIsATemplateWithoutAddress(t *testing.T) {
	vs, d := onlyVS(t, `virtual_server 10.0.0.1 80 {
  lb_algo rr
  protocol TCP
  delay_loop 3
  quorum 5
  dynamic_real_servers {
    dns_srv _http._tcp.web.example
    resolver 127.0.0.1 5353
    refresh 5
    max 16
    weight 2
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
    }
    TCP_CHECK {
      connect_port 9000
    }
  }
}`)
	if msgs := configtest.Messages(d); len(msgs) != 1 || !strings.Contains(msgs[0], "no forwarding method set") {
		t.Errorf("messages %q", msgs)
	}
	dyn := vs.Dynamic
	if dyn == nil {
		t.Fatal("no dynamic_real_servers")
	}
	if dyn.SRV != "_http._tcp.web.example" || dyn.Resolver != netip.MustParseAddrPort("127.0.0.1:5353") ||
		dyn.Refresh != secs(5) || dyn.Max != 16 || dyn.DrainTimeout != secs(60) || dyn.EmptyHold != secs(30) || dyn.Pos.Line != 6 {
		t.Errorf("block %+v", dyn)
	}
	// A quorum above the weight there is at start is kept: members come later.
	if vs.Quorum != 5 || len(vs.RealServers) != 0 {
		t.Errorf("quorum %d, %d real servers", vs.Quorum, len(vs.RealServers))
	}
	tm := dyn.Template
	if tm.Weight != 2 || tm.DelayLoop != secs(3) || tm.Forwarding.Method != "NAT" || len(tm.Checkers) != 2 {
		t.Errorf("template %+v", tm)
	}
	m := dyn.Member(netip.MustParseAddrPort("192.0.2.7:8080"))
	if m.Address != netip.MustParseAddr("192.0.2.7") || m.Port != 8080 || m.Weight != 2 {
		t.Errorf("member %+v", m)
	}
	http, tcp := m.Checkers[0].Connection, m.Checkers[1].Connection
	if http.Address != m.Address || http.Port != 8080 || http.Timeout != secs(1) || tcp.Address != m.Address || tcp.Port != 9000 {
		t.Errorf("member's checkers: %+v %+v", http, tcp)
	}
	if tm.Checkers[0].Connection.Address.IsValid() {
		t.Error("Member changed the template")
	}
}

func TestDynamicRealServersByNameAndItsMistakes(t *testing.T) {
	vs, _ := onlyVS(t, "virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  protocol TCP\n  lb_kind NAT\n  dynamic_real_servers {\n    dns_name web.example 8080\n    resolver 192.0.2.53\n  }\n}")
	if d := vs.Dynamic; d.Name != "web.example" || d.Port != 8080 || d.Resolver != netip.MustParseAddrPort("192.0.2.53:53") ||
		d.Refresh != secs(30) || d.Max != lvs.DefaultDynamicMax || d.Template.Weight != 1 {
		t.Errorf("block %+v", d)
	}
	// The block opens at line 5; its body starts at line 6 and it closes after it. Each
	// message is "LINE: [error: ]text", the line being the one to fix.
	for _, tt := range []struct{ body, want string }{
		{"    weight 1\n", "7: error: dynamic_real_servers: dns_srv NAME or dns_name NAME PORT expected"},
		{"    dns_srv a\n    dns_name b 80\n", "8: error: dynamic_real_servers: dns_srv and dns_name both given"},
		{"    dns_name b 0\n", "6: error: dns_name b: port '0' invalid"},
		{"    dns_name b\n", "6: error: *** Configuration line starting `dns_name` is missing a parameter"},
		{"    dns_srv a\n    resolver nowhere\n", "7: error: resolver nowhere: an IP address"},
		{"    dns_srv a\n    resolver 192.0.2.53 99999\n", "7: error: resolver 192.0.2.53 99999: an IP address"},
		{"    dns_srv a\n    refresh 0.5\n", "7: refresh '0.5' invalid"},
		{"    dns_srv a\n    max 0\n", "7: max '0' invalid"},
		{"    dns_srv a\n    empty_hold -1\n", "7: empty_hold '-1' invalid"},
		{"    dns_srv a\n    max 5000\n", "7: max '5000' invalid"},
		{"    dns_srv a\n    notify_up /bin/true\n", "7: Unknown keyword 'notify_up'"},
		{"    dns_srv a\n  }\n  dynamic_real_servers {\n    dns_srv b\n", "8: error: dynamic_real_servers: a virtual server takes one block, the first is at line 5"},
	} {
		_, d := configtest.Parse(t, "virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  protocol TCP\n  lb_kind NAT\n  dynamic_real_servers {\n"+tt.body+"  }\n}")
		msgs := configtest.Messages(d)
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, tt.want) }) {
			t.Errorf("%q: messages %q, want one with %q", tt.body, msgs, tt.want)
		}
		// A refused dns_name or dns_srv line is the only error said of it.
		if strings.Contains(tt.body, "dns_name b") && slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "expected") && strings.Contains(m, "dns_srv NAME") }) {
			t.Errorf("%q: messages %q say the block names nothing as well", tt.body, msgs)
		}
	}
}
