package app

import (
	"context"
	"net"
	"net/http"
	"sync"

	"google.golang.org/grpc/stats"
)

// grpcConns gives the gRPC port the HTTP port's connection limits (a
// connLimiter of its own: at most Max, at most PerAddress from one address,
// the connection idle the longest closed to make room). gRPC has no
// ConnState hook; as a stats handler it sees each call begin and end on its
// connection: busy while a call is in flight, idle between calls, new until
// the first.
type grpcConns struct {
	*connLimiter

	mu       sync.Mutex
	byRemote map[string]*grpcConn // live connections, by remote host:port
}

type grpcConn struct {
	*limitedConn
	g *grpcConns

	mu    sync.Mutex
	calls int
}

func newGRPCConns(ln net.Listener, lim connLimits) *grpcConns {
	return &grpcConns{connLimiter: newConnLimiter(ln, lim), byRemote: map[string]*grpcConn{}}
}

func (g *grpcConns) Accept() (net.Conn, error) {
	c, err := g.connLimiter.Accept()
	if err != nil {
		return nil, err
	}
	gc := &grpcConn{limitedConn: c.(*limitedConn), g: g}
	g.mu.Lock()
	g.byRemote[c.RemoteAddr().String()] = gc
	g.mu.Unlock()
	return gc, nil
}

func (c *grpcConn) Close() error {
	c.g.mu.Lock()
	if c.g.byRemote[c.RemoteAddr().String()] == c {
		delete(c.g.byRemote, c.RemoteAddr().String())
	}
	c.g.mu.Unlock()
	return c.limitedConn.Close()
}

type grpcConnKey struct{}

// TagConn marks the connection's context with its grpcConn, which every call
// on it inherits.
func (g *grpcConns) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	g.mu.Lock()
	c := g.byRemote[info.RemoteAddr.String()]
	g.mu.Unlock()
	if c == nil {
		return ctx
	}
	return context.WithValue(ctx, grpcConnKey{}, c)
}

func (g *grpcConns) HandleConn(context.Context, stats.ConnStats)                     {}
func (g *grpcConns) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

// HandleRPC follows the calls in flight on each connection.
func (g *grpcConns) HandleRPC(ctx context.Context, s stats.RPCStats) {
	var d int
	switch s.(type) {
	case *stats.Begin:
		d = 1
	case *stats.End:
		d = -1
	default:
		return
	}
	c, ok := ctx.Value(grpcConnKey{}).(*grpcConn)
	if !ok {
		return
	}
	// Under c.mu, so that a call beginning as another ends leaves the
	// connection in the state of the last.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls += d
	switch {
	case d > 0 && c.calls == 1:
		g.ConnState(c.limitedConn, http.StateActive)
	case d < 0 && c.calls == 0:
		g.ConnState(c.limitedConn, http.StateIdle)
	}
}
