// Package bgp announces vigil's virtual addresses to routers over BGP while their pools can
// serve them, so that several active load balancers behind ECMP routers each draw traffic
// only while healthy. The BGP protocol is GoBGP's (github.com/osrg/gobgp/v3), embedded as a
// library; this package decides what to announce and when.
package bgp
