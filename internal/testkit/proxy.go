package testkit

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a local port to a target, and plays
// the faults of a network or a database between: it can cut the target off
// (Cut, Restore), stall it (Pause, Resume: bytes wait and arrive late), drop
// connections silently (HangOpen, HangAll: open, saying nothing), or hold
// one COMMIT back (HoldNextCommit).
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener // nil while cut off
	conns   map[*proxied]bool
	hangNew bool
	open    chan struct{} // closed while forwarding; a new one while paused
	hold    time.Duration // > 0: hold the next COMMIT this long
	held    chan struct{} // closed when a COMMIT was held back
	done    chan struct{} // closed when the proxy closes
}

type proxied struct {
	hung chan struct{} // closed when this connection stops forwarding
	once sync.Once
	a, b net.Conn
	ends int // directions that ended, under Proxy.mu
}

func (c *proxied) hang() { c.once.Do(func() { close(c.hung) }) }

// StartProxy listens on 127.0.0.1 and forwards to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), ln: ln, conns: map[*proxied]bool{},
		open: make(chan struct{}), done: make(chan struct{})}
	close(p.open)
	go p.accept(ln)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port; it stays the same across Cut and Restore.
func (p *Proxy) Addr() string { return p.addr }

// HangOpen stops forwarding on every connection open now (new ones are
// forwarded), as a NAT that silently dropped them.
func (p *Proxy) HangOpen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.hang()
	}
}

// HangAll stops forwarding on every connection, those open now and new ones.
func (p *Proxy) HangAll() {
	p.mu.Lock()
	p.hangNew = true
	p.mu.Unlock()
	p.HangOpen()
}

// Pause stops forwarding: what is sent waits in the proxy.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// Resume forwards again, what waited first.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// HoldNextCommit holds the next COMMIT sent to the target for d; the channel
// is closed when it is caught.
func (p *Proxy) HoldNextCommit(d time.Duration) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold, p.held = d, make(chan struct{})
	return p.held
}

// Cut closes the port and every connection through it, as a database that
// went away.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.a.Close()
		c.b.Close()
		delete(p.conns, c)
	}
}

// Restore listens on the same port again after Cut.
func (p *Proxy) Restore() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after a cut
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *Proxy) accept(ln net.Listener) {
	for {
		a, err := ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(ln, a)
	}
}

func (p *Proxy) pipe(ln net.Listener, a net.Conn) {
	b, err := net.Dial("tcp", p.target)
	if err != nil {
		a.Close()
		return
	}
	c := &proxied{hung: make(chan struct{}), a: a, b: b}
	p.mu.Lock()
	if p.ln != ln { // cut or closed meanwhile
		p.mu.Unlock()
		a.Close()
		b.Close()
		return
	}
	p.conns[c] = true
	if p.hangNew {
		c.hang()
	}
	p.mu.Unlock()
	go p.copy(c, b, a, true)
	go p.copy(c, a, b, false)
}

// copy forwards from src to dst until either ends, then closes dst (src too
// on an error): what it read is still forwarded first, so a COMMIT held back
// arrives after its client went away. Once c hangs, what is read is held
// back and the connection is left open until the proxy closes.
func (p *Proxy) copy(c *proxied, dst, src net.Conn, toTarget bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-c.hung:
			<-p.done
			return
		default:
		}
		if n > 0 {
			<-p.gate()
			if toTarget {
				p.maybeHold(buf[:n])
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			dst.Close()
			p.mu.Lock()
			if c.ends++; c.ends == 2 {
				delete(p.conns, c)
			}
			p.mu.Unlock()
			return
		}
	}
}

func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// maybeHold sleeps when armed and b holds a COMMIT (PostgreSQL's simple
// query protocol: pgx commits with the query "commit").
func (p *Proxy) maybeHold(b []byte) {
	if !bytes.Contains(bytes.ToLower(b), []byte("commit\x00")) {
		return
	}
	p.mu.Lock()
	d, held := p.hold, p.held
	p.hold = 0
	p.mu.Unlock()
	if d > 0 {
		close(held)
		time.Sleep(d)
	}
}

func (p *Proxy) close() {
	p.Resume()
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.a.Close()
		c.b.Close()
	}
}
