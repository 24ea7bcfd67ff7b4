package netif

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// vmacReportTables are the nftables tables that hold one VMAC's membership report rules: one
// per family, as the dup statement exists only in the ip and ip6 families.
func vmacReportTables(vmac string) []*nftables.Table {
	name := "vigil-vmac-" + vmac
	return []*nftables.Table{{Family: nftables.TableFamilyIPv4, Name: name}, {Family: nftables.TableFamilyIPv6, Name: name}}
}

func ifnameData(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// RedirectVMACReports installs, in the calling thread's network namespace, rules that send the
// IGMP and MLD membership reports the kernel writes on the VMAC vmac (it joins the VRRP group,
// and for IPv6 the solicited-node groups of its addresses) out of the parent with index
// parentIndex instead, dropping the original. A report from the virtual MAC would teach the
// switches that the virtual MAC lives at a backup's port, and send the master's traffic there
// until its next advert. Keepalived does the same with its "dup to ... device" rule. The rules
// match the VMAC by name, so they may be installed before it exists; installing again replaces
// them.
func RedirectVMACReports(vmac string, parentIndex int) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("netif: vmac %s: nftables: %w", vmac, err)
	}
	chains := map[nftables.TableFamily]*nftables.Chain{}
	policy := nftables.ChainPolicyAccept
	for _, t := range vmacReportTables(vmac) {
		c.AddTable(t) // so that the delete below cannot fail when there is none
		c.DelTable(t)
		c.AddTable(t)
		chains[t.Family] = c.AddChain(&nftables.Chain{
			Name: "out", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityRef(-1), Policy: &policy,
		})
	}
	dev := make([]byte, 4)
	binary.NativeEndian.PutUint32(dev, uint32(parentIndex))
	// rule matches (oifname, protocol, [ICMPv6 type]) in family fam, copies the packet to its
	// own destination out of the parent, and drops the original.
	rule := func(fam nftables.TableFamily, l4 byte, icmp6Type int, daddrOff, daddrLen uint32) {
		ch := chains[fam]
		e := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(vmac)},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
		}
		if icmp6Type >= 0 {
			e = append(e,
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(icmp6Type)}})
		}
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOff, Len: daddrLen},
			&expr.Immediate{Register: 2, Data: dev},
			&expr.Dup{RegAddr: 1, RegDev: 2, IsRegDevSet: true},
			&expr.Verdict{Kind: expr.VerdictDrop})
		c.AddRule(&nftables.Rule{Table: ch.Table, Chain: ch, Exprs: e})
	}
	rule(nftables.TableFamilyIPv4, unix.IPPROTO_IGMP, -1, 16, 4)
	rule(nftables.TableFamilyIPv6, unix.IPPROTO_ICMPV6, 131, 24, 16) // MLDv1 report
	rule(nftables.TableFamilyIPv6, unix.IPPROTO_ICMPV6, 143, 24, 16) // MLDv2 report
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netif: vmac %s: install the membership report rules: %w", vmac, err)
	}
	return nil
}

// RemoveVMACReports removes what RedirectVMACReports installed for vmac, in the calling
// thread's network namespace. Rules that are not there are not an error.
func RemoveVMACReports(vmac string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("netif: vmac %s: nftables: %w", vmac, err)
	}
	for _, t := range vmacReportTables(vmac) {
		c.AddTable(t)
		c.DelTable(t)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netif: vmac %s: remove the membership report rules: %w", vmac, err)
	}
	return nil
}
