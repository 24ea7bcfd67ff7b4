package vrrp

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/netif"
	"golang.org/x/sys/unix"
)

// vmacSpec is an instance's use_vmac: the macvlan the virtual addresses live on, whose MAC is
// the virtual router's, so that neighbours keep the same MAC for the addresses whichever router
// is master.
type vmacSpec struct {
	name string
	mac  net.HardwareAddr
	// xmitBase sends and receives adverts on the base interface (vmac_xmit_base); unicast
	// adverts always use the base interface (Keepalived requires vmac_xmit_base with unicast
	// peers: the VMAC has no routes to them).
	xmitBase bool
	// group is use_vmac's "group N"; nil: the parent's (Keepalived 2.3.0).
	group *uint32
}

// vmacName is the VMAC interface's name: the one given to use_vmac, or the first free one of
// Keepalived's defaults: "vrrp.VRID", then for IPv6 "vrrp6.VRID", then "vrrpN.VRID" for N = 1,
// 2, ... (skipping 6 for IPv6). A name is taken when another instance gives it to use_vmac or an
// instance before this one in the configuration got it by default. (Keepalived also skips names
// of interfaces that exist on the host; vigil refuses to touch an interface of that name that is
// not a macvlan, and says so.)
func vmacName(c *config.Config, v *vrrpd.Instance) string {
	if v.VMACName != "" {
		return v.VMACName
	}
	taken := map[string]bool{}
	for _, o := range c.VRRPInstances {
		if o != v && o.UseVMAC && o.VMACName != "" {
			taken[o.VMACName] = true
		}
	}
	for _, o := range c.VRRPInstances {
		if !o.UseVMAC || o.VMACName != "" {
			continue
		}
		name := freeVMACName(o.VirtualRouterID, o.Family == "inet6", taken)
		if o == v {
			return name
		}
		taken[name] = true
	}
	return freeVMACName(v.VirtualRouterID, v.Family == "inet6", taken) // v not in c: tests
}

func freeVMACName(vrid int, ipv6 bool, taken map[string]bool) string {
	name := fmt.Sprintf("vrrp.%d", vrid)
	for num := 0; taken[name]; {
		switch {
		case !ipv6:
			num++
		case num == 0:
			num = 6
		case num == 6:
			num = 1
		default:
			if num++; num == 6 {
				num++
			}
		}
		name = fmt.Sprintf("vrrp%d.%d", num, vrid)
	}
	return name
}

// applyVMAC sets s up for use_vmac: the VMAC, and the virtual addresses of the instance's family
// that name no interface moved onto it (as Keepalived's man page says: VIPs and eVIPs "which do
// not specify a different interface will be configured on the macvlan").
func (s *spec) applyVMAC(c *config.Config, v *vrrpd.Instance) error {
	if !v.UseVMAC {
		return nil
	}
	if v.VMACAddr != "" {
		return syntax.ErrorAt(v.Pos, "vrrp %s: use_vmac_addr is not supported", v.Name)
	}
	s.vmac = &vmacSpec{name: vmacName(c, v), mac: netif.VMACAddr(s.vrid, s.ipv6), xmitBase: v.VMACXmitBase, group: v.VMACGroup}
	if mac := v.VMACHardwareAddr(); mac != nil {
		s.vmac.mac = mac
	}
	i := 0
	for _, list := range [][]*vrrpd.VirtualIP{v.VirtualIPAddresses, v.VirtualIPAddressesExcluded} {
		for _, vip := range list {
			if vip.UseVMAC {
				return syntax.ErrorAt(vip.Pos, "vrrp %s: use_vmac on a virtual address is not supported", v.Name)
			}
			if vip.Dev == "" && vip.Prefix.Addr().Is6() == s.ipv6 {
				s.vips[i].Link = s.vmac.name
			}
			i++
		}
	}
	return nil
}

// vmacState is what the run goroutine knows of the instance's VMAC.
type vmacState struct {
	reports    bool // the membership report rules are installed
	created    bool // created or adopted: removed when the instance stops
	configured bool // sysctls set; parent holds what to restore
	parent     netif.ParentARP
}

// openVMAC makes sure the instance's VMAC exists, is up and is set up as Keepalived sets it, and
// returns the interface adverts go out of and come in on: the VMAC, or base with vmac_xmit_base
// or unicast peers. src is the instance's address on base (for IPv6, the link-local address the
// VMAC gets too). Without use_vmac it returns base.
func (in *instance) openVMAC(base *net.Interface, src netip.Addr) (*net.Interface, error) {
	s := in.conf()
	if s.vmac == nil {
		return base, nil
	}
	viaBase := s.vmac.xmitBase || s.unicast
	// The link-local address goes on after the sysctls (accept_ra=0: no router
	// solicitation from the virtual MAC).
	v := netif.VMAC{Name: s.vmac.name, Parent: s.ifname, MAC: s.vmac.mac, Group: s.vmac.group}
	if !in.vmac.reports {
		// Before the VMAC joins any group: its membership reports must never carry the
		// virtual MAC (see netif.RedirectVMACReports). Written in the process's namespace,
		// like the sysctls below.
		if err := netif.RedirectVMACReports(s.vmac.name, base.Index); err != nil {
			// The VMAC still works; a backup's reports may move the virtual MAC to its
			// switch port until the master's next advert.
			in.log.Warn("VMAC membership reports will leave from the virtual MAC", "vmac", s.vmac.name, "error", err)
		} else {
			in.vmac.reports = true
		}
	}
	l, err := in.host.EnsureVMAC(v)
	if err != nil {
		return nil, err
	}
	in.vmac.created = true
	if !in.vmac.configured {
		// The sysctls are written in the process's namespace, which is the host's: the
		// daemon's Host comes from netif.Open.
		prev, err := netif.SetVMACSysctls(s.vmac.name, s.ifname, s.ipv6)
		if err != nil {
			return nil, err
		}
		in.vmac.configured, in.vmac.parent = true, prev
		if l.Adopted {
			// A VMAC left by a vigil that died as master still carries the addresses;
			// starting as backup takes them off (fsm: a backup removes every address).
			in.log.Info("adopted an existing VMAC interface", "vmac", s.vmac.name)
		} else {
			in.log.Info("created VMAC interface", "vmac", s.vmac.name, "mac", s.vmac.mac.String(), "parent", s.ifname)
		}
	}
	if viaBase {
		return base, nil
	}
	if s.ipv6 {
		ll := netif.Address{Prefix: netip.PrefixFrom(src, 64), Link: s.vmac.name, Scope: unix.RT_SCOPE_LINK, NoDAD: true}
		if err := in.host.AddAddress(ll); err != nil {
			return nil, err
		}
	}
	return netif.Interface(s.vmac.name)
}

// removeVMAC removes the instance's VMAC when it stops, and restores the parent's ARP sysctls
// once no other VMAC is left on it (several instances may share a parent).
func (in *instance) removeVMAC() {
	s := in.conf()
	if s.vmac == nil {
		return
	}
	if in.vmac.created {
		if err := in.host.DeleteVMAC(s.vmac.name); err != nil {
			in.log.Error("VMAC interface not removed", "vmac", s.vmac.name, "error", err)
			return
		}
		in.vmac.created = false
	}
	if in.vmac.reports {
		if err := netif.RemoveVMACReports(s.vmac.name); err != nil {
			in.log.Warn("VMAC membership report rules not removed", "vmac", s.vmac.name, "error", err)
		}
		in.vmac.reports = false
	}
	if others, err := in.host.VMACsOn(s.ifname); err == nil && len(others) == 0 && in.vmac.configured {
		if err := in.vmac.parent.Restore(); err != nil {
			in.log.Warn("ARP sysctls of the VMAC's parent not restored", "parent", s.ifname, "error", err)
		}
		in.vmac.configured = false
	}
}
