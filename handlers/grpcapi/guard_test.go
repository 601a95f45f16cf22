package grpcapi

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/policy"
)

// headerStream stands for grpc-go's server stream: SetHeader joins the
// headers as it does.
type headerStream struct {
	mu     sync.Mutex
	header metadata.MD
}

func (s *headerStream) Method() string { return rolegatev1.CheckService_Check_FullMethodName }
func (s *headerStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	s.header = metadata.Join(s.header, md)
	s.mu.Unlock()
	return nil
}
func (s *headerStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }
func (s *headerStream) SetTrailer(metadata.MD) error    { return nil }

// BenchmarkGuardUnary is what the guard adds to a unary call, as grpc-go
// runs it: the tap, the interceptor (request id, metrics, log level), and
// the end of the call's context.
func BenchmarkGuardUnary(b *testing.B) {
	g := newGuard(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	info := &tap.Info{FullMethodName: rolegatev1.CheckService_Check_FullMethodName}
	uinfo := &grpc.UnaryServerInfo{FullMethod: rolegatev1.CheckService_Check_FullMethodName}
	md := metadata.Pairs("authorization", "Bearer x")
	h := func(ctx context.Context, req any) (any, error) {
		if policy.RequestIDFrom(ctx) == "" {
			b.Fatal("no request id")
		}
		return req, nil
	}
	b.ReportAllocs()
	for b.Loop() {
		st := &headerStream{}
		parent, cancel := context.WithCancel(metadata.NewIncomingContext(context.Background(), md))
		ctx, err := g.tap(parent, info)
		if err != nil {
			b.Fatal(err)
		}
		ctx = grpc.NewContextWithServerTransportStream(ctx, st)
		if _, err := g.unary(ctx, nil, uinfo, h); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// BenchmarkGuardNone is BenchmarkGuardUnary's call without the guard: what
// the benchmark itself costs, to subtract.
func BenchmarkGuardNone(b *testing.B) {
	md := metadata.Pairs("authorization", "Bearer x")
	h := func(ctx context.Context, req any) (any, error) { return req, nil }
	b.ReportAllocs()
	for b.Loop() {
		st := &headerStream{}
		parent, cancel := context.WithCancel(metadata.NewIncomingContext(context.Background(), md))
		ctx := grpc.NewContextWithServerTransportStream(parent, st)
		if _, err := h(ctx, nil); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// guardCall runs one unary call through the guard as grpc-go does (tap,
// then the interceptor) with the given incoming metadata, and returns the
// headers the call set, the context its handler saw and its error.
func guardCall(t testing.TB, g *guard, method string, md metadata.MD, h grpc.UnaryHandler) (metadata.MD, context.Context, error) {
	t.Helper()
	parent, cancel := context.WithCancel(metadata.NewIncomingContext(context.Background(), md))
	defer cancel()
	ctx, err := g.tap(parent, &tap.Info{FullMethodName: method, Header: md})
	if err != nil {
		t.Fatal(err)
	}
	st := &headerStream{}
	ctx = grpc.NewContextWithServerTransportStream(ctx, st)
	var seen context.Context
	_, err = g.unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, req any) (any, error) {
		seen = ctx
		return h(ctx, req)
	})
	return st.header, seen, err
}

func quietGuard(reg *prometheus.Registry) *guard {
	return newGuard(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg, Limits: Limits{CallTimeout: time.Minute}})
}

// A unary call gets its deadline and its request id from the tap: a sane
// x-request-id is kept and echoed, another (or none) replaced by a new one.
func TestGuardUnaryDeadlineAndRequestID(t *testing.T) {
	g := quietGuard(nil)
	ok := func(context.Context, any) (any, error) { return nil, nil }
	seen := map[string]bool{}
	for _, c := range []struct {
		sent []string
		keep bool
	}{
		{nil, false},
		{[]string{"req-1.a_b:c"}, true},
		{[]string{"bad id"}, false},
		{[]string{"\x00\n"}, false},
		{[]string{strings.Repeat("a", 129)}, false},
		{[]string{strings.Repeat("a", 128)}, true},
		{[]string{"a", "b"}, false},
		{[]string{""}, false},
	} {
		md := metadata.MD{}
		if c.sent != nil {
			md["x-request-id"] = c.sent
		}
		start := time.Now()
		hdr, ctx, err := guardCall(t, g, rolegatev1.CheckService_Check_FullMethodName, md, ok)
		if err != nil {
			t.Fatal(err)
		}
		got := hdr.Get("x-request-id")
		if len(got) != 1 || got[0] == "" || got[0] != policy.RequestIDFrom(ctx) {
			t.Fatalf("sent %q: header %q, context %q", c.sent, got, policy.RequestIDFrom(ctx))
		}
		if kept := len(c.sent) > 0 && got[0] == c.sent[0]; kept != c.keep {
			t.Fatalf("sent %q: answered %q", c.sent, got[0])
		}
		if !c.keep {
			if seen[got[0]] || !handlers.SaneRequestID(got[0]) {
				t.Fatalf("new request id %q: repeated or not sane", got[0])
			}
			seen[got[0]] = true
		}
		dl, has := ctx.Deadline()
		if !has || dl.Before(start.Add(time.Minute)) || dl.After(time.Now().Add(time.Minute)) {
			t.Fatalf("deadline %v (set %v), want a minute from the call's start", dl, has)
		}
	}
}

// The unary deadline ends the call's context with DeadlineExceeded, and the
// end of the call (its parent) ends it too.
func TestGuardUnaryDeadlineFires(t *testing.T) {
	g := newGuard(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: Limits{CallTimeout: 20 * time.Millisecond}})
	_, _, err := guardCall(t, g, rolegatev1.CheckService_Check_FullMethodName, metadata.MD{}, func(ctx context.Context, _ any) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != context.DeadlineExceeded {
		t.Fatalf("err %v", err)
	}
	parent, cancel := context.WithCancel(context.Background())
	ctx, _ := g.tap(parent, &tap.Info{FullMethodName: rolegatev1.CheckService_Check_FullMethodName})
	cancel()
	<-ctx.Done()
	if ctx.Err() != context.Canceled {
		t.Fatalf("err %v", ctx.Err())
	}
}

// Calls are counted by method and code, each series from its first call
// on, and unary calls timed; the cached children count what WithLabelValues
// would.
func TestGuardMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := quietGuard(reg)
	fail := func(context.Context, any) (any, error) { return nil, status.Error(codes.PermissionDenied, "no") }
	ok := func(context.Context, any) (any, error) { return nil, nil }
	for range 3 {
		_, _, _ = guardCall(t, g, rolegatev1.CheckService_Check_FullMethodName, nil, ok)
	}
	_, _, _ = guardCall(t, g, rolegatev1.CheckService_BatchCheck_FullMethodName, nil, fail)
	_, _, _ = guardCall(t, g, "/x.Y/Z", nil, ok)
	g.done(context.Background(), rolegatev1.CheckService_CheckStream_FullMethodName, time.Now(), status.Error(codes.Code(99), "odd"))
	g.done(context.Background(), rolegatev1.CheckService_CheckStream_FullMethodName, time.Now(), status.Error(codes.Code(99), "odd"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			default:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"rolegate_grpc_calls_total code=OK method=Check":                              3,
		"rolegate_grpc_call_duration_seconds code=OK method=Check":                    3,
		"rolegate_grpc_calls_total code=PermissionDenied method=BatchCheck":           1,
		"rolegate_grpc_call_duration_seconds code=PermissionDenied method=BatchCheck": 1,
		"rolegate_grpc_calls_total code=OK method=other":                              1,
		"rolegate_grpc_call_duration_seconds code=OK method=other":                    1,
		"rolegate_grpc_calls_total code=Code(99) method=CheckStream":                  2,
		"rolegate_grpc_open_streams":                                                  0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("metrics\n got %v\nwant %v", got, want)
	}
}

// fakeStream is a server stream whose context and headers the test holds.
type fakeStream struct {
	grpc.ServerStream
	ctx    context.Context
	header metadata.MD
}

func (s *fakeStream) Context() context.Context { return s.ctx }
func (s *fakeStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}

// A stream's request id is taken from its headers when sane, else made,
// echoed, and carried by the context its handler sees; the call is counted.
func TestGuardStreamRequestID(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := quietGuard(reg)
	info := &grpc.StreamServerInfo{FullMethod: rolegatev1.CheckService_CheckStream_FullMethodName}
	for _, c := range []struct {
		sent string
		keep bool
	}{{"", false}, {"stream-1", true}, {"no good", false}} {
		md := metadata.MD{}
		if c.sent != "" {
			md["x-request-id"] = []string{c.sent}
		}
		ss := &fakeStream{ctx: metadata.NewIncomingContext(context.Background(), md)}
		var seen string
		err := g.stream(nil, ss, info, func(_ any, s grpc.ServerStream) error {
			seen = policy.RequestIDFrom(s.Context())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := ss.header.Get("x-request-id")
		if len(got) != 1 || got[0] != seen || !handlers.SaneRequestID(seen) || (seen == c.sent) != c.keep {
			t.Fatalf("sent %q: header %q, context %q", c.sent, got, seen)
		}
	}
	if g.open.Load() != 0 {
		t.Fatalf("%d streams left open", g.open.Load())
	}
}
