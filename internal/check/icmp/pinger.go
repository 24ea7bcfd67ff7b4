package icmp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Family is the address family a Pinger serves.
type Family uint8

const (
	// IPv4 pings with ICMP echo.
	IPv4 Family = 4
	// IPv6 pings with ICMPv6 echo.
	IPv6 Family = 6
)

// Mode chooses the kind of socket a Pinger opens.
type Mode uint8

const (
	// Auto tries a raw socket, then an unprivileged ping socket.
	Auto Mode = iota
	// Raw insists on a raw socket (root or CAP_NET_RAW).
	Raw
	// Unprivileged insists on a ping socket (the caller's group within
	// net.ipv4.ping_group_range).
	Unprivileged
)

const (
	echoHeaderLen = 8
	cookieLen     = 8
	readBuffer    = 1 << 20
)

// ErrClosed is returned by Ping once the Pinger is closed.
var ErrClosed = errors.New("icmp: pinger closed")

// waitKey identifies an outstanding echo request.
type waitKey struct {
	addr netip.Addr
	seq  uint16
}

// Pinger sends echo requests of one address family through one socket. It is safe for
// concurrent use; Close stops its reader goroutine.
type Pinger struct {
	family     Family
	privileged bool
	conn       *xicmp.PacketConn
	id         uint16 // identifier on raw sockets; ping sockets have the kernel's
	cookie     [cookieLen]byte

	mu      sync.Mutex
	seq     uint16
	waiters map[waitKey]chan time.Time
	closed  bool

	done     chan struct{}
	readDone chan struct{}
	chans    sync.Pool
}

// Options configure a Pinger beyond its family and mode.
type Options struct {
	Family Family
	Mode   Mode
	// Fwmark, when non-zero, marks every echo request with SO_MARK (PING_CHECK's fwmark): the
	// mark belongs to the socket, so each mark needs a Pinger of its own.
	Fwmark uint32
}

// New opens the socket for family in mode and starts the reader. It fails, saying why, when
// neither a raw socket nor a ping socket may be opened.
func New(family Family, mode Mode) (*Pinger, error) {
	return NewWithOptions(Options{Family: family, Mode: mode})
}

// NewWithOptions is New with a fwmark.
func NewWithOptions(o Options) (*Pinger, error) {
	family, mode := o.Family, o.Mode
	var rawNet, dgramNet, wildcard string
	switch family {
	case IPv4:
		rawNet, dgramNet, wildcard = "ip4:icmp", "udp4", "0.0.0.0"
	case IPv6:
		rawNet, dgramNet, wildcard = "ip6:ipv6-icmp", "udp6", "::"
	default:
		return nil, fmt.Errorf("icmp: family %d: want 4 or 6", family)
	}
	p := &Pinger{
		family:   family,
		waiters:  make(map[waitKey]chan time.Time),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	p.chans.New = func() any { return make(chan time.Time, 1) }
	var rawErr, dgramErr error
	if mode == Auto || mode == Raw {
		p.conn, rawErr = xicmp.ListenPacket(rawNet, wildcard)
		p.privileged = rawErr == nil
	}
	if p.conn == nil && (mode == Auto || mode == Unprivileged) {
		p.conn, dgramErr = xicmp.ListenPacket(dgramNet, wildcard)
	}
	if p.conn == nil {
		switch mode {
		case Raw:
			return nil, fmt.Errorf("icmp: open raw %s socket (needs root or CAP_NET_RAW): %w", rawNet, rawErr)
		case Unprivileged:
			return nil, fmt.Errorf("icmp: open %s ping socket (gid %d must be within net.ipv4.ping_group_range): %w", dgramNet, os.Getegid(), dgramErr)
		default:
			return nil, fmt.Errorf("icmp: no socket to ping with: raw %s socket: %v (needs root or CAP_NET_RAW); %s ping socket: %v (gid %d must be within net.ipv4.ping_group_range)",
				rawNet, rawErr, dgramNet, dgramErr, os.Getegid())
		}
	}
	if _, err := rand.Read(p.cookie[:]); err != nil {
		p.conn.Close()
		return nil, fmt.Errorf("icmp: random cookie: %w", err)
	}
	if o.Fwmark != 0 {
		if err := p.setMark(o.Fwmark); err != nil {
			p.conn.Close()
			return nil, err
		}
	}
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	p.id = binary.BigEndian.Uint16(idb[:2])
	p.seq = binary.BigEndian.Uint16(idb[2:])
	if pc, ok := p.packetConn().(interface{ SetReadBuffer(int) error }); ok {
		_ = pc.SetReadBuffer(readBuffer)
	}
	// A raw socket sees every ICMP message the host receives: let the kernel drop all but echo
	// replies before they are copied to us.
	switch {
	case family == IPv4 && p.privileged:
		var f ipv4.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv4.ICMPTypeEchoReply)
		_ = p.conn.IPv4PacketConn().SetICMPFilter(&f)
	case family == IPv6 && p.privileged:
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		_ = p.conn.IPv6PacketConn().SetICMPFilter(&f)
	}
	go p.read()
	return p, nil
}

// packetConn returns the net.PacketConn under the x/net endpoint.
func (p *Pinger) packetConn() net.PacketConn {
	if p.family == IPv4 {
		return p.conn.IPv4PacketConn().PacketConn
	}
	return p.conn.IPv6PacketConn().PacketConn
}

// setMark sets SO_MARK on the socket.
func (p *Pinger) setMark(mark uint32) error {
	sc, ok := p.packetConn().(syscall.Conn)
	if !ok {
		return fmt.Errorf("icmp: set fwmark %d: socket has no file descriptor", mark)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("icmp: set fwmark %d: %w", mark, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
	}); err != nil {
		return fmt.Errorf("icmp: set fwmark %d: %w", mark, err)
	}
	if serr != nil {
		return fmt.Errorf("icmp: set fwmark %d (needs CAP_NET_ADMIN): %w", mark, serr)
	}
	return nil
}

// Privileged reports whether the Pinger uses a raw socket.
func (p *Pinger) Privileged() bool { return p.privileged }

// Ping sends one echo request to dst and waits for its reply until ctx is done. It returns the
// round-trip time.
func (p *Pinger) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	return p.PingFrom(ctx, dst, netip.Addr{}, 0)
}

// PingFrom is Ping with the request sent from src (when valid) out of the interface with index
// ifIndex (when non-zero), chosen per packet (IP_PKTINFO / IPV6_PKTINFO) since the socket is
// shared: PING_CHECK's bindto and bind_if.
func (p *Pinger) PingFrom(ctx context.Context, dst, src netip.Addr, ifIndex int) (time.Duration, error) {
	dst = dst.Unmap()
	src = src.Unmap()
	if src.IsValid() && src.Is4() != dst.Is4() {
		return 0, fmt.Errorf("icmp: ping %s from %s: families differ", dst, src)
	}
	if (p.family == IPv4) != dst.Is4() {
		return 0, fmt.Errorf("icmp: ping %s: address is not IPv%d", dst, p.family)
	}
	ch := p.chans.Get().(chan time.Time)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, ErrClosed
	}
	key := waitKey{addr: dst.WithZone(""), seq: p.seq}
	for tries := 0; ; tries++ {
		p.seq++
		if _, busy := p.waiters[key]; !busy {
			break
		}
		if tries == 1<<16 {
			p.mu.Unlock()
			p.chans.Put(ch)
			return 0, fmt.Errorf("icmp: ping %s: every sequence number is in flight", dst)
		}
		key.seq = p.seq
	}
	p.waiters[key] = ch
	p.mu.Unlock()

	var pkt [echoHeaderLen + cookieLen]byte
	if p.family == IPv4 {
		pkt[0] = 8 // echo request
	} else {
		pkt[0] = 128 // ICMPv6 echo request
	}
	binary.BigEndian.PutUint16(pkt[4:], p.id)
	binary.BigEndian.PutUint16(pkt[6:], key.seq)
	copy(pkt[echoHeaderLen:], p.cookie[:])
	if p.family == IPv4 {
		// ICMPv6 checksums are the kernel's; ICMPv4 ones are ours on raw sockets.
		binary.BigEndian.PutUint16(pkt[2:], checksum(pkt[:]))
	}
	var to net.Addr
	ip := net.IP(dst.AsSlice())
	if p.privileged {
		to = &net.IPAddr{IP: ip, Zone: dst.Zone()}
	} else {
		to = &net.UDPAddr{IP: ip, Zone: dst.Zone()}
	}
	sent := time.Now()
	var err error
	switch {
	case !src.IsValid() && ifIndex == 0:
		_, err = p.conn.WriteTo(pkt[:], to)
	case p.family == IPv4:
		cm := &ipv4.ControlMessage{IfIndex: ifIndex}
		if src.IsValid() {
			cm.Src = net.IP(src.AsSlice())
		}
		_, err = p.conn.IPv4PacketConn().WriteTo(pkt[:], cm, to)
	default:
		cm := &ipv6.ControlMessage{IfIndex: ifIndex}
		if src.IsValid() {
			cm.Src = net.IP(src.AsSlice())
		}
		_, err = p.conn.IPv6PacketConn().WriteTo(pkt[:], cm, to)
	}
	if err != nil {
		p.forget(key, ch)
		return 0, fmt.Errorf("icmp: send echo to %s: %w", dst, err)
	}
	select {
	case at := <-ch:
		p.chans.Put(ch)
		return at.Sub(sent), nil
	case <-ctx.Done():
		p.forget(key, ch)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("icmp: ping %s: timeout, no echo reply", dst)
		}
		return 0, fmt.Errorf("icmp: ping %s: %w", dst, ctx.Err())
	case <-p.done:
		p.forget(key, ch)
		return 0, ErrClosed
	}
}

// forget removes a waiter that gave up. When the reader has already taken it from the map, the
// reader is about to send on its channel (without blocking, the channel being buffered), so that
// value is received before the channel is reused.
func (p *Pinger) forget(key waitKey, ch chan time.Time) {
	p.mu.Lock()
	mine := p.waiters[key] == ch
	if mine {
		delete(p.waiters, key)
	}
	p.mu.Unlock()
	if !mine {
		<-ch
	}
	p.chans.Put(ch)
}

// read hands echo replies to their waiters until the socket is closed.
func (p *Pinger) read() {
	defer close(p.readDone)
	var buf [1500]byte
	for {
		n, from, err := p.conn.ReadFrom(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-p.done:
				return
			default:
			}
			// Errors queued on the socket (an ICMP error on a ping socket, say) are not fatal;
			// the pause keeps an unexpected persistent error from spinning.
			var errno syscall.Errno
			if !errors.As(err, &errno) || !errno.Temporary() {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		at := time.Now()
		msg := buf[:n]
		if n < echoHeaderLen+cookieLen {
			continue
		}
		if (p.family == IPv4 && msg[0] != 0) || (p.family == IPv6 && msg[0] != 129) || msg[1] != 0 {
			continue // not an echo reply
		}
		if p.privileged && binary.BigEndian.Uint16(msg[4:]) != p.id {
			continue // another process's ping
		}
		if [cookieLen]byte(msg[echoHeaderLen:echoHeaderLen+cookieLen]) != p.cookie {
			continue
		}
		var addr netip.Addr
		switch a := from.(type) {
		case *net.IPAddr:
			addr, _ = netip.AddrFromSlice(a.IP)
		case *net.UDPAddr:
			addr, _ = netip.AddrFromSlice(a.IP)
		}
		key := waitKey{addr: addr.Unmap(), seq: binary.BigEndian.Uint16(msg[6:])}
		p.mu.Lock()
		ch, ok := p.waiters[key]
		if ok {
			delete(p.waiters, key)
		}
		p.mu.Unlock()
		if ok {
			ch <- at // buffered, and only the reader sends, once per registration
		}
	}
}

// Close closes the socket and waits for the reader to stop. Pending Pings return ErrClosed.
func (p *Pinger) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.done)
	err := p.conn.Close()
	<-p.readDone
	return err
}

// checksum is the Internet checksum of b (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
