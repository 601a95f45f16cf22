package app

import (
	"context"
	"net"
	"net/http"
	"sync"

	"google.golang.org/grpc/peer"
)

// grpcConns gives the gRPC port the HTTP port's connection limits (a
// connLimiter of its own: at most Max, at most PerAddress from one address,
// the connection idle the longest closed to make room). gRPC has no
// ConnState hook; grpcapi's interceptors tell it each call's begin and end
// on its connection: busy while a call is in flight, idle between calls, new
// until the first.
type grpcConns struct {
	*connLimiter
}

type grpcConn struct {
	*limitedConn

	mu sync.Mutex
	n  int // calls in flight
}

func newGRPCConns(ln net.Listener, lim connLimits) *grpcConns {
	return &grpcConns{connLimiter: newConnLimiter(ln, lim)}
}

func (g *grpcConns) Accept() (net.Conn, error) {
	c, err := g.connLimiter.Accept()
	if err != nil {
		return nil, err
	}
	return &grpcConn{limitedConn: c.(*limitedConn)}, nil
}

// RemoteAddr carries the connection, so that a call finds it from its peer
// address (peer.FromContext): no stats handler, whose events cost each call
// allocations.
func (c *grpcConn) RemoteAddr() net.Addr { return connAddr{Addr: c.limitedConn.RemoteAddr(), c: c} }

type connAddr struct {
	net.Addr
	c *grpcConn
}

// onCall marks the connection of a call busy until the returned func runs
// (grpcapi.Deps.OnCall).
func (g *grpcConns) onCall(ctx context.Context) func() {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return func() {}
	}
	a, ok := p.Addr.(connAddr)
	if !ok {
		return func() {}
	}
	a.c.calls(g, 1)
	return func() { a.c.calls(g, -1) }
}

// calls counts the calls in flight, under c.mu so that a call beginning as
// another ends leaves the connection in the state of the last.
func (c *grpcConn) calls(g *grpcConns, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	switch {
	case d > 0 && c.n == 1:
		g.ConnState(c.limitedConn, http.StateActive)
	case d < 0 && c.n == 0:
		g.ConnState(c.limitedConn, http.StateIdle)
	}
}
