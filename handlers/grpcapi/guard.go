package grpcapi

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/rolegate/rolegate"
	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/policy"
)

// Limits bound the time of calls and the streams open at once; a zero field
// is its default.
type Limits struct {
	// CallTimeout bounds a unary call from its headers on (its message
	// included), and, on a stream, the check and the sending of one answer:
	// a caller that stops reading its answers loses the stream.
	CallTimeout time.Duration
	// StreamIdle bounds how long a stream waits for its next question.
	StreamIdle time.Duration
	// MaxOpenStreams bounds the CheckStream calls open at once, over all
	// connections; past it a new one is UNAVAILABLE server_busy.
	MaxOpenStreams int
}

// The defaults of Limits.
const (
	DefaultCallTimeout    = 30 * time.Second // the HTTP server's WriteTimeout
	DefaultStreamIdle     = 2 * time.Minute  // the HTTP server's IdleTimeout
	DefaultMaxOpenStreams = 1000
)

func (l Limits) withDefaults() Limits {
	if l.CallTimeout <= 0 {
		l.CallTimeout = DefaultCallTimeout
	}
	if l.StreamIdle <= 0 {
		l.StreamIdle = DefaultStreamIdle
	}
	if l.MaxOpenStreams <= 0 {
		l.MaxOpenStreams = DefaultMaxOpenStreams
	}
	return l
}

// guard holds what every call goes through: its deadline, its request id,
// the bound on open streams, its metrics and its log line.
type guard struct {
	limits Limits
	log    *slog.Logger
	open   atomic.Int64 // CheckStream calls in their handler
	onCall func(context.Context) func()

	calls *prometheus.CounterVec   // nil: no metrics
	dur   *prometheus.HistogramVec // unary calls only
	// children are the metrics' children by method label (methodLabels'
	// order) and status code, each resolved on its first call: a call costs
	// no label lookup (WithLabelValues hashes its labels under a lock), and
	// a series appears once a call has ended with it, as before.
	children [len(methodLabels)][maxCode + 1]atomic.Pointer[callMetrics]
}

// callMetrics are the children of one method label and status code.
type callMetrics struct {
	calls prometheus.Counter
	dur   prometheus.Observer // nil for CheckStream
}

// maxCode is the highest status code grpc-go defines (Unauthenticated); a
// higher one is counted without the cache.
const maxCode = codes.Unauthenticated

func newGuard(d Deps) *guard {
	g := &guard{limits: d.Limits.withDefaults(), log: d.Logger, onCall: d.OnCall}
	if g.onCall == nil {
		g.onCall = func(context.Context) func() { return func() {} }
	}
	if d.Metrics == nil {
		return g
	}
	labels := []string{"method", "code"}
	g.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rolegate_grpc_calls_total",
		Help: "gRPC calls of the check API ended, by method (Check, BatchCheck, CheckStream) and status code."}, labels)
	g.dur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rolegate_grpc_call_duration_seconds",
		Help:    "Time to answer a unary gRPC call (Check, BatchCheck), by method and status code.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, labels)
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rolegate_grpc_open_streams",
		Help: "CheckStream calls open."}, func() float64 { return float64(g.open.Load()) })
	for _, c := range []prometheus.Collector{g.calls, g.dur, open} {
		if err := d.Metrics.Register(c); err != nil {
			g.log.Warn("metrics: collector not registered", "error", err)
		}
	}
	return g
}

type watchKey struct{}

var (
	errCallTimeout = errors.New("the call took longer than its deadline")
	errStreamIdle  = errors.New("no question within the stream's idle timeout")
	errNotRead     = errors.New("an answer was not read within the call timeout")
)

// tap gives each call, as its headers arrive, the context its handler will
// see: a deadline for a unary call, a watchdog's for a stream (CheckStream).
// Ending it unblocks Recv and Send.
func (g *guard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName == rolegatev1.CheckService_CheckStream_FullMethodName {
		inner, cancel := context.WithCancelCause(ctx)
		return &watchCtx{Context: ctx, inner: inner, cancel: cancel}, nil
	}
	// Never cancelled here: the answer is written with this context after
	// the handler returns; grpc-go cancels its parent when the call ends,
	// which ends this one and stops its timer.
	ctx, cancel := context.WithTimeoutCause(ctx, g.limits.CallTimeout, errCallTimeout)
	_ = cancel
	// The request id is taken here, from the headers as they arrived (no
	// copy of the call's metadata), into the context the call keeps; unary
	// echoes it.
	return policy.WithRequestID(ctx, newRequestID(info.Header)), nil
}

// watchCtx is a stream's context: its parent's, also ended by the stream's
// watchdog as a deadline is (Err is context.DeadlineExceeded), because
// grpc-go answers a Recv or Send ended by its context with the context's
// error: the caller reads DEADLINE_EXCEEDED, not CANCELLED.
type watchCtx struct {
	context.Context // the parent: Deadline
	inner           context.Context
	cancel          context.CancelCauseFunc
	fired           atomic.Bool
}

func (c *watchCtx) Done() <-chan struct{} { return c.inner.Done() }

// Value is inner's (Cause, and children joined to inner), and c for cancelOf.
func (c *watchCtx) Value(k any) any {
	if k == (watchKey{}) {
		return c
	}
	return c.inner.Value(k)
}

func (c *watchCtx) Err() error {
	err := c.inner.Err()
	if err != nil && c.fired.Load() {
		return context.DeadlineExceeded
	}
	return err
}

// AfterFunc lets a context derived from c be cancelled with it without a
// goroutine of its own (context.propagateCancel).
func (c *watchCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.inner, f) }

// fire ends the stream for why (context.Cause).
func (c *watchCtx) fire(why error) {
	c.fired.Store(true)
	c.cancel(why)
}

// cancelOf ends the stream of ctx, whose context tap made (a no-op for
// another: a server without the tap).
func cancelOf(ctx context.Context) func(error) {
	if w, ok := ctx.Value(watchKey{}).(*watchCtx); ok {
		return w.fire
	}
	return func(error) {}
}

func (g *guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (_ any, err error) {
	start := time.Now()
	id := policy.RequestIDFrom(ctx) // tap's
	if id == "" {                   // a server without the tap
		md, _ := metadata.FromIncomingContext(ctx)
		id = newRequestID(md)
		ctx = policy.WithRequestID(ctx, id)
	}
	_ = grpc.SetHeader(ctx, metadata.MD{requestIDHeader: {id}})
	defer func() { g.done(ctx, info.FullMethod, start, err) }()
	defer g.onCall(ctx)()
	defer recovered(ctx, g.log, &err)
	return h(ctx, req)
}

func (g *guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	start := time.Now()
	ctx := ss.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	id := newRequestID(md)
	_ = ss.SetHeader(metadata.MD{requestIDHeader: {id}})
	ctx = policy.WithRequestID(ctx, id)
	defer func() { g.done(ctx, info.FullMethod, start, err) }()
	defer g.onCall(ctx)()
	defer recovered(ctx, g.log, &err)
	defer g.open.Add(-1)
	if g.open.Add(1) > int64(g.limits.MaxOpenStreams) {
		return toStatus(ctx, g.log, rolegate.Errorf(rolegate.KindUnavailable, "server_busy",
			"too many streams are open; retry later or use Check and BatchCheck"))
	}
	return h(srv, ctxStream{ss, ctx})
}

// ctxStream is a stream whose context carries the request id.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

// done counts and logs an ended call: at debug, as the HTTP API logs its
// checks; internal errors at error.
func (g *guard) done(ctx context.Context, full string, start time.Time, err error) {
	code := status.Code(err)
	m := methodOf(full)
	method := methodLabels[m]
	elapsed := time.Since(start)
	if g.calls != nil {
		c := g.metricsOf(m, code)
		c.calls.Inc()
		if c.dur != nil {
			c.dur.Observe(elapsed.Seconds())
		}
	}
	level := slog.LevelDebug
	if code == codes.Internal || code == codes.Unknown {
		level = slog.LevelError
	}
	if !g.log.Enabled(ctx, level) {
		return
	}
	g.log.Log(ctx, level, "grpc call", "method", method, "code", code.String(),
		"duration_ms", float64(elapsed.Microseconds())/1000, "request_id", policy.RequestIDFrom(ctx))
}

// methodLabels bound the method label to the service's methods.
var methodLabels = [...]string{"Check", "BatchCheck", "CheckStream", "other"}

// The index in methodLabels of CheckStream, whose calls are not timed.
const streamMethod = 2

// methodOf returns the index in methodLabels of a call's full method name.
func methodOf(full string) int {
	switch full {
	case rolegatev1.CheckService_Check_FullMethodName:
		return 0
	case rolegatev1.CheckService_BatchCheck_FullMethodName:
		return 1
	case rolegatev1.CheckService_CheckStream_FullMethodName:
		return streamMethod
	}
	return 3
}

// metricsOf returns the metrics' children of a method label (its index)
// and a status code, resolving them on their first use.
func (g *guard) metricsOf(m int, code codes.Code) *callMetrics {
	var slot *atomic.Pointer[callMetrics]
	if code <= maxCode {
		slot = &g.children[m][code]
		if c := slot.Load(); c != nil {
			return c
		}
	}
	c := &callMetrics{calls: g.calls.WithLabelValues(methodLabels[m], code.String())}
	if m != streamMethod {
		c.dur = g.dur.WithLabelValues(methodLabels[m], code.String())
	}
	if slot != nil {
		slot.Store(c) // a race stores the same children twice
	}
	return c
}

// requestIDHeader is the metadata key of the request id, in and out.
const requestIDHeader = "x-request-id"

// newRequestID returns the call's x-request-id when it is sane (as the HTTP
// API takes X-Request-Id), else a new one. The caller echoes it in the
// response headers and carries it in the call's context (logs, audit).
func newRequestID(md metadata.MD) string {
	if v := md[requestIDHeader]; len(v) == 1 && handlers.SaneRequestID(v[0]) {
		return v[0]
	}
	// Unpredictability is not needed: math/rand, no syscall per call.
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
