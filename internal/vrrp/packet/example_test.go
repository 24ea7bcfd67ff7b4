package packet_test

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/vigil-lb/vigil/internal/vrrp/packet"
)

// A receive path keeps one Advert and one Counters per instance: decode,
// match the VRID, check against the configuration, count refusals.
func ExampleAdvert_Unmarshal() {
	// A VRRPv3 advertisement Keepalived 2.2.7 sent (testdata/v3_ipv4.golden).
	payload, _ := hex.DecodeString("313d780300326c9cc000026ec000026fc0000270")
	env := packet.Envelope{
		Src:      netip.MustParseAddr("192.0.2.10"),
		Dst:      packet.GroupIPv4(),
		HopLimit: 255, // from the IP_TTL / IPV6_HOPLIMIT control message
	}
	var (
		a      packet.Advert
		counts packet.Counters
	)
	if err := a.Unmarshal(payload, env); err != nil {
		fmt.Println("refused:", counts.Observe(err))
		return
	}
	expect := packet.Expect{Version: 3, Interval: 50, VIPs: []netip.Addr{
		netip.MustParseAddr("192.0.2.110"), netip.MustParseAddr("192.0.2.111"), netip.MustParseAddr("192.0.2.112"),
	}}
	fmt.Println(a.VRID, a.Priority, a.IntervalDuration(), a.Addrs, expect.Check(&a))

	env.HopLimit = 64 // forwarded by a router: refused
	err := a.Unmarshal(payload, env)
	fmt.Println(err, counts.Observe(err).String())
	// Output:
	// 61 120 500ms [192.0.2.110 192.0.2.111 192.0.2.112] <nil>
	// vrrp packet: TTL/hop limit 64, want 255 bad_ttl
}
