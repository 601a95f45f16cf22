// Package grpcapi is Rolegate's gRPC transport for checks
// (api/proto/rolegate/v1/check.proto): the questions and answers of POST
// /v1/check and /v1/check/batch, with the same tokens, the same service
// calls and the same errors, mapped to gRPC status codes. It talks to
// policy's Service only.
package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rolegate/rolegate"
	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/policy"
)

// Deps is what the gRPC server needs.
type Deps struct {
	Service *policy.Service
	Auth    handlers.Authenticator
	Logger  *slog.Logger
	// Limiter is the HTTP router's rate limiter (nil: unlimited): a check
	// over gRPC draws on the same budget as one over HTTP.
	Limiter *handlers.RateLimiter
	// Metrics is the registry the calls are counted in (nil: none), the
	// HTTP router's.
	Metrics *prometheus.Registry
	// Limits bound the time and the streams of calls (zero: the defaults).
	Limits Limits
	// OnCall, when set, is told of each call as its handler starts, and
	// calls the func it returns as the handler ends (the program's
	// connection accounting: busy or idle).
	OnCall func(context.Context) func()
}

// MaxMessageBytes bounds one received message: a batch of 1,000 checks with
// ids of a few hundred bytes fits; the HTTP API's 1 MiB body bound.
const MaxMessageBytes = 1 << 20

// NewServer returns a gRPC server serving CheckService.
func NewServer(d Deps) *grpc.Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	g := newGuard(d)
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.ForceServerCodec(codec{}),
		// Bounds what one connection holds at once, as the HTTP server's
		// connection limits do for HTTP.
		grpc.MaxConcurrentStreams(MaxStreams),
		// A fixed window (no BDP growth up to 16 MiB): what a stream holds
		// unread, when its handler is blocked, stays at 64 KiB. A larger
		// message still arrives: grpc-go widens the window for it.
		grpc.InitialWindowSize(windowBytes), grpc.InitialConnWindowSize(connWindowBytes),
		// An idle connection is closed (clients reconnect when they need
		// to), as the HTTP server's IdleTimeout does.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 2 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// A call's headers have arrived: the deadline of a unary call starts
		// here, its message included, as the HTTP ReadTimeout does.
		grpc.InTapHandle(g.tap),
		grpc.ChainUnaryInterceptor(g.unary),
		grpc.ChainStreamInterceptor(g.stream)}
	s := grpc.NewServer(opts...)
	rolegatev1.RegisterCheckServiceServer(s, &checkServer{svc: d.Service, auth: d.Auth, log: d.Logger, lim: d.Limiter, limits: g.limits})
	return s
}

// MaxStreams bounds the calls one connection may have in flight.
const MaxStreams = 100

const (
	windowBytes     = 64 << 10
	connWindowBytes = 1 << 20
)

// recovered answers a panic of a call with INTERNAL, as the HTTP API answers
// one with 500 (grpc-go would let it end the process); the panic is logged.
func recovered(ctx context.Context, log *slog.Logger, err *error) {
	if r := recover(); r != nil {
		log.ErrorContext(ctx, "panic in grpc call", "panic", r, "request_id", policy.RequestIDFrom(ctx))
		*err = status.Error(codes.Internal, "internal: internal error")
	}
}

type checkServer struct {
	rolegatev1.UnimplementedCheckServiceServer
	svc  *policy.Service
	auth handlers.Authenticator
	log  *slog.Logger
	lim  *handlers.RateLimiter

	limits Limits
}

// limit charges a check call naming entities to the rate limits, as the
// HTTP API does once the caller is known: over them, rate_limited
// (RESOURCE_EXHAUSTED) saying when to retry.
func (s *checkServer) limit(ctx context.Context, entities []string) error {
	wait, ok := s.lim.Check(auth.ActorFrom(ctx), entities)
	if ok {
		return nil
	}
	return rolegate.Errorf(rolegate.KindTooMany, "rate_limited", "too many requests; retry in %d s", int(wait/time.Second))
}

// validEntities returns the distinct valid entity ids of a call, as the HTTP
// limiter reads them from a body (ids that are not entity ids fail anyway).
func validEntities(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if rolegate.ValidEntityID(id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// authenticate reads "authorization: Bearer <token>" from the call's
// metadata and returns ctx carrying the caller, as the HTTP API does.
func (s *checkServer) authenticate(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var h string
	if v := md.Get("authorization"); len(v) == 1 {
		h = v[0]
	}
	// The scheme is case-insensitive (RFC 9110 11.1).
	if len(h) <= 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return ctx, rolegate.Errorf(rolegate.KindUnauthenticated, "unauthenticated", "an authorization: Bearer <token> metadata entry is required")
	}
	actor, err := s.auth.Authenticate(strings.TrimSpace(h[7:]))
	if err == nil && actor.ID == "" {
		err = rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_token", "the bearer token is not valid")
	}
	if err != nil {
		return ctx, err
	}
	return auth.WithActor(ctx, actor), nil
}

// Check answers one question.
func (s *checkServer) Check(ctx context.Context, req *rolegatev1.CheckRequest) (*rolegatev1.CheckResponse, error) {
	out, err := s.check(ctx, req)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return out, nil
}

func (s *checkServer) check(ctx context.Context, req *rolegatev1.CheckRequest) (*rolegatev1.CheckResponse, error) {
	ctx, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.limit(ctx, validEntities(req.GetEntityId())); err != nil {
		return nil, err
	}
	if err := s.svc.AuthorizeChecks(ctx); err != nil {
		return nil, err
	}
	q, err := domain(req, "resource")
	if err != nil {
		return nil, err
	}
	d, err := s.svc.Check(ctx, q)
	if err != nil {
		return nil, err
	}
	return responseOf(d, req.GetExplain()), nil
}

// BatchCheck answers 1 to handlers.MaxBatch questions, in order.
func (s *checkServer) BatchCheck(ctx context.Context, req *rolegatev1.BatchCheckRequest) (*rolegatev1.BatchCheckResponse, error) {
	out, err := s.batch(ctx, req)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return out, nil
}

func (s *checkServer) batch(ctx context.Context, req *rolegatev1.BatchCheckRequest) (*rolegatev1.BatchCheckResponse, error) {
	ctx, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	checks := req.GetChecks()
	var named []string
	if len(checks) <= handlers.MaxBatch { // else refused below
		ids := make([]string, len(checks))
		for i, ch := range checks {
			ids[i] = ch.GetEntityId()
		}
		named = validEntities(ids...)
	}
	if len(named) > handlers.MaxBatchEntities {
		named = nil // refused below
	}
	if err := s.limit(ctx, named); err != nil {
		return nil, err
	}
	if err := s.svc.AuthorizeChecks(ctx); err != nil {
		return nil, err
	}
	if len(checks) < 1 || len(checks) > handlers.MaxBatch {
		return nil, rolegate.Invalid("invalid_batch", "checks", "checks must hold 1 to %d checks", handlers.MaxBatch)
	}
	// The HTTP API's bound on the entities one batch names.
	seen := make(map[string]bool, handlers.MaxBatchEntities)
	reqs := make([]policy.CheckRequest, len(checks))
	for i, ch := range checks {
		if id := ch.GetEntityId(); !seen[id] {
			if len(seen) == handlers.MaxBatchEntities {
				return nil, rolegate.Invalid("too_many_entities", fmt.Sprintf("checks[%d].entity_id", i),
					"a batch may name at most %d distinct entities; checks[%d] names one more", handlers.MaxBatchEntities, i)
			}
			seen[id] = true
		}
		if reqs[i], err = domain(ch, fmt.Sprintf("checks[%d].resource", i)); err != nil {
			return nil, err
		}
	}
	ds, err := s.svc.CheckBatch(ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := &rolegatev1.BatchCheckResponse{Results: make([]*rolegatev1.CheckResponse, len(ds))}
	for i, d := range ds {
		out.Results[i] = responseOf(d, checks[i].GetExplain())
	}
	return out, nil
}

// CheckStream answers each question of the stream, in order. Each question
// is authenticated again with the stream's token, so that a revoked client
// or an expired token stops being answered as it does over HTTP. An error
// ends the stream; so does a caller that asks nothing for StreamIdle, or
// does not read an answer within CallTimeout (what the server holds for a
// stream stays bounded: one answer, and grpc-go's 64 KiB of it unsent).
func (s *checkServer) CheckStream(stream grpc.BidiStreamingServer[rolegatev1.CheckRequest, rolegatev1.CheckResponse]) error {
	ctx := stream.Context()
	cancel := cancelOf(ctx)
	var waiting atomic.Bool // for a question, else on a check or an answer
	watchdog := time.AfterFunc(s.limits.StreamIdle, func() {
		if waiting.Load() {
			cancel(errStreamIdle)
		} else {
			cancel(errNotRead)
		}
	})
	defer watchdog.Stop()
	for {
		waiting.Store(true)
		watchdog.Reset(s.limits.StreamIdle)
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.ended(ctx, err) // else the transport's own status
		}
		waiting.Store(false)
		watchdog.Reset(s.limits.CallTimeout)
		out, err := s.check(ctx, req)
		if err != nil {
			return s.ended(ctx, s.status(ctx, err))
		}
		if err := stream.Send(out); err != nil {
			return s.ended(ctx, err)
		}
	}
}

// ended is err, unless the watchdog ended the stream: then why, for the log
// and the metrics (the caller was told DEADLINE_EXCEEDED by grpc-go as its
// Recv or Send ended).
func (s *checkServer) ended(ctx context.Context, err error) error {
	switch context.Cause(ctx) {
	case errStreamIdle:
		return status.Errorf(codes.DeadlineExceeded, "stream_idle: no question for %s; the stream ends", s.limits.StreamIdle)
	case errNotRead:
		return status.Errorf(codes.DeadlineExceeded, "stream_stalled: an answer was not read (or a check not answered) within %s; the stream ends", s.limits.CallTimeout)
	}
	return err
}

// domain is the service's form of a check; field names its resource in an
// error.
func domain(r *rolegatev1.CheckRequest, field string) (policy.CheckRequest, error) {
	res, err := resourceOf(r.GetResource(), field, cutCount(r))
	if err != nil {
		return policy.CheckRequest{}, err
	}
	req := policy.CheckRequest{EntityID: r.GetEntityId(), UserID: r.GetUserId(), ObjectType: r.GetObjectType(),
		Action: r.GetAction(), OwnerID: r.GetOwnerId(), Scope: r.GetScope(), Resource: res, Explain: r.GetExplain(),
		MinRevision: r.GetMinRevision()}
	if r.AsOf != nil || r.AtRevision != nil {
		req.AsOf, err = asOfOf(r, strings.TrimSuffix(field, "resource"))
	}
	return req, err
}

// asOfOf is a check's as_of or at_revision, read as over HTTP
// (handlers.AsOfOf); prefix names the check in a batch.
func asOfOf(r *rolegatev1.CheckRequest, prefix string) (rolegate.AsOf, error) {
	var t *time.Time
	if r.AsOf != nil {
		if err := r.AsOf.CheckValid(); err != nil {
			return rolegate.AsOf{}, rolegate.Invalid("invalid_as_of", prefix+"as_of", "%sas_of is not a valid time (0001 to 9999)", prefix)
		}
		at := r.AsOf.AsTime()
		t = &at
	}
	return handlers.AsOfOf(prefix, t, r.AtRevision, r.GetMinRevision())
}

func responseOf(d engine.Decision, explain bool) *rolegatev1.CheckResponse {
	out := &rolegatev1.CheckResponse{Allowed: d.Allowed, Permission: string(d.Permission), Revision: d.Revision, ValidUntilUnixMs: d.ValidUntil}
	if explain {
		out.Matched = matches(d.Matched)
		out.DeniedBy = matches(d.DeniedBy)
		out.GrantableBy = matches(d.GrantableBy)
	}
	return out
}

func matches(ms []engine.Match) []*rolegatev1.Match {
	if len(ms) == 0 {
		return nil
	}
	out := make([]*rolegatev1.Match, len(ms))
	for i, m := range ms {
		out[i] = matchOf(m)
	}
	return out
}

// codeOf maps an error kind to its gRPC code, as statusOf does to HTTP.
func codeOf(k rolegate.Kind) codes.Code {
	switch k {
	case rolegate.KindInvalid, rolegate.KindBadRequest:
		return codes.InvalidArgument
	case rolegate.KindUnauthenticated:
		return codes.Unauthenticated
	case rolegate.KindForbidden:
		return codes.PermissionDenied
	case rolegate.KindNotFound, rolegate.KindGone:
		return codes.NotFound
	case rolegate.KindConflict:
		return codes.AlreadyExists
	case rolegate.KindPrecondition:
		return codes.FailedPrecondition
	case rolegate.KindUnavailable:
		return codes.Unavailable
	case rolegate.KindTooMany:
		return codes.ResourceExhausted
	}
	return codes.Internal
}

// status turns an error into the call's status: the message is
// "<code>: <message>" (the native error body's code and message), and the
// details hold an ErrorInfo whose reason is the code, and a BadRequest of the
// fields named. Internal errors are logged with their cause, never shown.
func (s *checkServer) status(ctx context.Context, err error) error { return toStatus(ctx, s.log, err) }

func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	e := rolegate.AsError(err)
	c := codeOf(e.Kind)
	if (c == codes.Internal || c == codes.Unavailable) && e.Code != "server_busy" {
		log.ErrorContext(ctx, "grpc call failed", "code", e.Code, "error", err, "request_id", policy.RequestIDFrom(ctx))
	}
	st := status.New(c, e.Code+": "+e.Message)
	dets := []*errdetails.BadRequest_FieldViolation{}
	for _, d := range e.Details {
		if d.Field != "" {
			dets = append(dets, &errdetails.BadRequest_FieldViolation{Field: d.Field, Description: d.Message})
		}
	}
	info := &errdetails.ErrorInfo{Reason: e.Code, Domain: "rolegate"}
	var with *status.Status
	var derr error
	if len(dets) > 0 {
		with, derr = st.WithDetails(info, &errdetails.BadRequest{FieldViolations: dets})
	} else {
		with, derr = st.WithDetails(info)
	}
	if derr != nil {
		return st.Err()
	}
	return with.Err()
}
