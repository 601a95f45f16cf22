package testkit

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a target and can stop forwarding without
// closing anything, as a proxy or a NAT that silently drops a connection
// does: the peers see a connection that is open and says nothing.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   map[*proxied]bool
	hangNew bool
	done    chan struct{}
}

type proxied struct {
	hung chan struct{} // closed when this connection stops forwarding
	once sync.Once
	a, b net.Conn
}

func (c *proxied) hang() { c.once.Do(func() { close(c.hung) }) }

// StartProxy listens on 127.0.0.1 and forwards to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*proxied]bool{}, done: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// HangOpen stops forwarding on every connection open now (new ones are
// forwarded).
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

func (p *Proxy) accept() {
	for {
		a, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			a.Close()
			continue
		}
		c := &proxied{hung: make(chan struct{}), a: a, b: b}
		p.mu.Lock()
		p.conns[c] = true
		if p.hangNew {
			c.hang()
		}
		p.mu.Unlock()
		go p.copy(c, c.b, c.a)
		go p.copy(c, c.a, c.b)
	}
}

// copy forwards from src to dst until either ends; once c hangs, what is
// read is held back and the connection is left open until the proxy closes.
func (p *Proxy) copy(c *proxied, dst, src net.Conn) {
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
			delete(p.conns, c)
			p.mu.Unlock()
			return
		}
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	for c := range p.conns {
		c.a.Close()
		c.b.Close()
	}
}
