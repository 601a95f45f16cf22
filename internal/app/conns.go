package app

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimits bound the connections a server holds.
type connLimits struct {
	// Max is the most connections held at once.
	Max int
	// PerAddress is the most held from one remote address (0: no limit).
	PerAddress int
	// BusyIdle is how long a connection may sit idle while at least
	// three quarters of Max are held.
	BusyIdle time.Duration
}

// connLimiter holds at most Max connections, but an idle one never keeps a
// new caller out: at the cap, the connection idle the longest (a keep-alive
// connection between requests, or one that has not yet sent a byte) is
// closed to make room. Only when every connection is busy with a request
// does a new one wait to be accepted. Its ConnState must be the server's.
type connLimiter struct {
	net.Listener
	lim connLimits

	mu     sync.Mutex
	freed  *sync.Cond // a connection closed, or went idle
	conns  map[*limitedConn]struct{}
	byAddr map[string]int
	closed bool
	done   chan struct{}
}

type limitedConn struct {
	net.Conn
	l     *connLimiter
	addr  string
	state http.ConnState // under l.mu
	since time.Time      // when it entered state
	held  bool           // counted in l.conns
}

func newConnLimiter(ln net.Listener, lim connLimits) *connLimiter {
	if lim.BusyIdle <= 0 {
		lim.BusyIdle = 5 * time.Second
	}
	l := &connLimiter{Listener: ln, lim: lim, conns: map[*limitedConn]struct{}{}, byAddr: map[string]int{}, done: make(chan struct{})}
	l.freed = sync.NewCond(&l.mu)
	go l.sweep()
	return l
}

// Accept returns the next connection once there is room for it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
	}
}

func (l *connLimiter) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		l.freed.Broadcast()
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// admit makes room for c, or refuses it (nil, c closed): its address holds
// PerAddress connections all busy.
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	lc := &limitedConn{Conn: c, l: l, addr: hostOf(c.RemoteAddr()), state: http.StateNew, since: time.Now()}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.lim.PerAddress; n > 0 && l.byAddr[lc.addr] >= n {
		if !l.evictLocked(lc.addr) {
			c.Close()
			return nil
		}
	}
	if len(l.conns) >= l.lim.Max*3/4 {
		l.closeIdleLocked(time.Now().Add(-l.lim.BusyIdle))
	}
	for len(l.conns) >= l.lim.Max {
		if l.evictLocked("") {
			continue
		}
		if l.closed {
			c.Close()
			return nil
		}
		l.freed.Wait()
	}
	lc.held = true
	l.conns[lc] = struct{}{}
	l.byAddr[lc.addr]++
	return lc
}

// evictLocked closes the connection idle the longest (of addr, when not
// ""): idle between requests first, then one that has sent nothing yet.
func (l *connLimiter) evictLocked(addr string) bool {
	var oldest *limitedConn
	for c := range l.conns {
		if (addr != "" && c.addr != addr) || (c.state != http.StateIdle && c.state != http.StateNew) {
			continue
		}
		if oldest == nil || rank(c, oldest) {
			oldest = c
		}
	}
	if oldest == nil {
		return false
	}
	l.releaseLocked(oldest)
	oldest.Conn.Close()
	return true
}

// rank reports whether a goes before b: idle before new, then the longest.
func rank(a, b *limitedConn) bool {
	if a.state != b.state {
		return a.state == http.StateIdle
	}
	return a.since.Before(b.since)
}

// closeIdleLocked closes the connections idle (or silent since accepted)
// since before t.
func (l *connLimiter) closeIdleLocked(t time.Time) {
	for c := range l.conns {
		if (c.state == http.StateIdle || c.state == http.StateNew) && c.since.Before(t) {
			l.releaseLocked(c)
			c.Conn.Close()
		}
	}
}

func (l *connLimiter) releaseLocked(c *limitedConn) {
	if !c.held {
		return
	}
	c.held = false
	delete(l.conns, c)
	if l.byAddr[c.addr]--; l.byAddr[c.addr] <= 0 {
		delete(l.byAddr, c.addr)
	}
	l.freed.Broadcast()
}

// sweep applies BusyIdle while the server is under pressure, also when no
// new connection arrives.
func (l *connLimiter) sweep() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		l.mu.Lock()
		if len(l.conns) >= l.lim.Max*3/4 {
			l.closeIdleLocked(time.Now().Add(-l.lim.BusyIdle))
		}
		l.mu.Unlock()
	}
}

// ConnState follows each connection's state (the server's ConnState hook).
func (l *connLimiter) ConnState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lc.state, lc.since = s, time.Now()
	switch s {
	case http.StateClosed:
		l.releaseLocked(lc)
	case http.StateIdle:
		l.freed.Broadcast() // one waiting may take its place
	}
}

func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
