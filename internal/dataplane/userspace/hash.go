package userspace

import (
	"encoding/binary"
	"net/netip"
)

// mix64 is the splitmix64 finaliser: cheap, allocation-free, and good enough to spread
// addresses over hash tables. The constants are splitmix64's.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// addrKey hashes a client address for the hashing schedulers and persistence. An IPv4 address
// and its IPv4-mapped IPv6 form hash alike.
func addrKey(a netip.Addr) uint64 {
	b := a.Unmap().As16()
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	return mix64(hi ^ mix64(lo))
}

// backendKey hashes a backend's address and port with a seed, for Maglev's permutations.
func backendKey(ap netip.AddrPort, seed uint64) uint64 {
	return mix64(addrKey(ap.Addr()) ^ uint64(ap.Port())<<1 ^ seed)
}
