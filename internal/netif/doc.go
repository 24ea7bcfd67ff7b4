// Package netif changes the host's network configuration for VRRP through netlink: it adds and
// removes virtual addresses (with their label, scope, broadcast and peer), reads the addresses
// an interface already has to pick an instance's primary address, reports and watches link
// state for track_interface, and announces addresses that moved to this host with gratuitous
// ARP (IPv4) and unsolicited neighbour advertisements (IPv6). It also makes the virtual MAC
// interfaces of use_vmac (vmac.go) and adds and removes policy routing rules (rule.go).
//
// What it installs it can also read back, so that a VRRP master can tell when someone took it
// away: HasAddress, HasRoute and HasRule compare the kernel's state with what was asked for,
// and WatchAddresses, WatchRoutes and WatchRules report changes as the kernel makes them (one
// netlink subscription each, run by the generic watch loop in watch.go, as WatchLinks is).
//
// A Host works in one network namespace: the process's own (Open) or a named one
// (OpenNamespace, used by tests to look into the namespaces they build). netif knows nothing
// of configuration syntax; the vrrp package turns vrrpd.VirtualIP into Address.
package netif
