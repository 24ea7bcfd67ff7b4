// Package packet encodes and decodes VRRP advertisements: VRRPv2 (RFC 3768,
// IPv4 only, with the authentication type and 8 bytes of authentication data
// and an advertisement interval in seconds) and VRRPv3 (RFC 5798, IPv4 and
// IPv6, a 12-bit maximum advertisement interval in centiseconds and a
// checksum that includes the IP pseudo-header with protocol 112).
//
// The codec works on the IP payload: the caller gives it the payload together
// with an Envelope (source and destination address, IP protocol, and the TTL
// or hop limit taken from the received packet's control message). With
// Keepalived's "auth_type AH" the IPv4 protocol is 51 and the payload starts
// with a 24-byte IPsec AH header, which Decode recognises and steps over; the
// HMAC-MD5-96 ICV is kept in the Advert but not verified by Decode, because it
// covers the IP header that the codec never sees: VerifyAH and SealAH take
// that header, and AHSeq is the sequence counter (ah.go).
//
// Decode also refuses what the protocol forbids although the bytes parse: VRRPv3
// behind an AH header (AH is VRRPv2's, so IPv4's, only), and an IPv6 multicast
// advert whose source is not link-local (RFC 5798 section 5.1.2.1, RFC 9568);
// unicast peers may use any address, as Keepalived's do.
//
// Decode never panics and does not allocate when given an Advert whose
// address slice has room (Unmarshal into a reused Advert). Every refusal is an
// *Error carrying a Reason; Counters counts refusals per Reason so that an
// instance can export them as metrics. Checks that need the instance's
// configuration (authentication, the v2 interval, the address list) live in
// Expect.Check; the VRID is the caller's to match, since it selects the
// instance in the first place.
package packet
