package nftables

import (
	"math"
	"sync"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// ctTimeoutMu serialises the marshalling of ct timeout objects: google/nftables v0.3.0 merges
// the policy into its package-level default map while marshalling (CtTimeout.marshalData), so
// two Dataplanes doing it at once would write that map concurrently. Every policy built here
// sets every state, so the shared map's leftover values never leak into an object.
var ctTimeoutMu sync.Mutex

func addCtTimeout(c *nft.Conn, o *nft.NamedObj) {
	ctTimeoutMu.Lock()
	defer ctTimeoutMu.Unlock()
	c.AddObj(o)
}

// idleTimeout is the ct timeout policy for IdleTimeout: an established TCP connection, or a
// UDP flow (answered or not), is forgotten after idle without a packet; TCP's other states keep
// conntrack's defaults. Conntrack counts in whole seconds, so idle is rounded up.
func idleTimeout(v4 bool, p dataplane.Protocol, idle time.Duration) *expr.CtTimeout {
	secs := uint32(min(math.Ceil(idle.Seconds()), math.MaxUint32))
	l3 := uint16(unix.NFPROTO_IPV6)
	if v4 {
		l3 = unix.NFPROTO_IPV4
	}
	policy := expr.CtStatePolicyTimeout{}
	if p == dataplane.UDP {
		policy[expr.CtStateUDPUNREPLIED] = secs
		policy[expr.CtStateUDPREPLIED] = secs
		return &expr.CtTimeout{L3Proto: l3, L4Proto: unix.IPPROTO_UDP, Policy: policy}
	}
	// Conntrack's defaults for the other states (as in nf_conntrack_proto_tcp.c).
	for state, d := range map[uint16]uint32{
		expr.CtStateTCPSYNSENT: 120, expr.CtStateTCPSYNRECV: 60, expr.CtStateTCPFINWAIT: 120,
		expr.CtStateTCPCLOSEWAIT: 60, expr.CtStateTCPLASTACK: 30, expr.CtStateTCPTIMEWAIT: 120,
		expr.CtStateTCPCLOSE: 10, expr.CtStateTCPSYNSENT2: 120, expr.CtStateTCPRETRANS: 300,
		expr.CtStateTCPUNACK: 300,
	} {
		policy[state] = d
	}
	policy[expr.CtStateTCPESTABLISHED] = secs
	return &expr.CtTimeout{L3Proto: l3, L4Proto: unix.IPPROTO_TCP, Policy: policy}
}
