package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
)

// GRPCChecker asks checks over Rolegate's gRPC API (the server's -grpc-addr),
// with the token of the Client it came from. Its answers and errors are those
// of Client.Check and Client.CheckBatch; an error's Status is the HTTP status
// the same refusal has. It does not retry. Safe for concurrent use.
type GRPCChecker struct {
	rpc    rolegatev1.CheckServiceClient
	tokens tokenSource
}

// GRPCChecker returns a checker calling over conn (grpc.NewClient to the
// server's gRPC address) with this client's token (WithToken or
// WithClientCredentials, fetched over HTTP).
func (c *Client) GRPCChecker(conn grpc.ClientConnInterface) *GRPCChecker {
	return &GRPCChecker{rpc: rolegatev1.NewCheckServiceClient(conn), tokens: c.tokens}
}

func (g *GRPCChecker) context(ctx context.Context) (context.Context, error) {
	if g.tokens == nil {
		return ctx, nil
	}
	tok, err := g.tokens.token(ctx)
	if err != nil {
		return ctx, err
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

// Check asks one question.
func (g *GRPCChecker) Check(ctx context.Context, r CheckRequest) (Decision, error) {
	ctx, err := g.context(ctx)
	if err != nil {
		return Decision{}, err
	}
	q, err := protoRequest(r)
	if err != nil {
		return Decision{}, err
	}
	a, err := g.rpc.Check(ctx, q)
	if err != nil {
		return Decision{}, g.grpcError(err)
	}
	return answerOf(a).decision()
}

// CheckBatch asks up to 1,000 questions about up to 10 entities at once; the
// answers are in the order of the questions.
func (g *GRPCChecker) CheckBatch(ctx context.Context, rs []CheckRequest) ([]Decision, error) {
	ctx, err := g.context(ctx)
	if err != nil {
		return nil, err
	}
	req := &rolegatev1.BatchCheckRequest{Checks: make([]*rolegatev1.CheckRequest, len(rs))}
	for i, r := range rs {
		if req.Checks[i], err = protoRequest(r); err != nil {
			return nil, fmt.Errorf("checks[%d]: %w", i, err)
		}
	}
	out, err := g.rpc.BatchCheck(ctx, req)
	if err != nil {
		return nil, g.grpcError(err)
	}
	if len(out.Results) != len(rs) {
		return nil, fmt.Errorf("%w: %d answers to %d checks", ErrMalformedAnswer, len(out.Results), len(rs))
	}
	ds := make([]Decision, len(rs))
	for i, a := range out.Results {
		d, err := answerOf(a).decision()
		if err != nil {
			return nil, err
		}
		ds[i] = d
	}
	return ds, nil
}

func protoRequest(r CheckRequest) (*rolegatev1.CheckRequest, error) {
	res, err := resourceStruct(r.Resource)
	if err != nil {
		return nil, err
	}
	q := &rolegatev1.CheckRequest{EntityId: r.EntityID, UserId: r.UserID, ObjectType: r.ObjectType, Action: r.Action,
		OwnerId: r.OwnerID, Scope: r.Scope, Resource: res, Explain: r.Explain, MinRevision: r.MinRevision, AtRevision: r.AtRevision}
	if r.AsOf != nil {
		// As the server reads as_of over HTTP: RFC 3339 with a time zone.
		t, err := time.Parse(time.RFC3339Nano, *r.AsOf)
		if err != nil {
			return nil, fmt.Errorf("as_of must be an RFC 3339 time such as 2026-03-31T23:59:59Z: %w", err)
		}
		q.AsOf = timestamppb.New(t)
	}
	return q, nil
}

// resourceStruct is a check's resource as a Struct: the same values as the
// JSON of Client.Check (numbers become float64). Go values structpb does not
// take ([]string, a named type) go through their JSON encoding.
func resourceStruct(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	s, err := structpb.NewStruct(m)
	if err == nil {
		return s, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("rolegate: encoding the resource: %w", err)
	}
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		return nil, fmt.Errorf("rolegate: encoding the resource: %w", err)
	}
	if s, err = structpb.NewStruct(plain); err != nil {
		return nil, fmt.Errorf("rolegate: encoding the resource: %w", err)
	}
	return s, nil
}

func answerOf(a *rolegatev1.CheckResponse) checkAnswer {
	allowed, perm, rev := a.GetAllowed(), a.GetPermission(), a.GetRevision()
	out := checkAnswer{Allowed: &allowed, Permission: &perm, Revision: &rev,
		Matched: matchesOf(a.GetMatched()), DeniedBy: matchesOf(a.GetDeniedBy()), GrantableBy: matchesOf(a.GetGrantableBy())}
	if ms := a.GetValidUntilUnixMs(); ms > 0 {
		t := time.UnixMilli(ms).UTC()
		out.ValidUntil = &t
	}
	return out
}

func matchesOf(ms []*rolegatev1.Match) []Match {
	if len(ms) == 0 {
		return nil
	}
	out := make([]Match, len(ms))
	for i, m := range ms {
		out[i] = Match{RoleID: optional(m.GetRoleId()), RoleName: optional(m.GetRoleName()), Permission: m.GetPermission(),
			Condition: m.GetCondition(), ConditionValue: m.ConditionValue, ConditionError: m.GetConditionError()}
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// grpcStatuses are the HTTP statuses of the gRPC codes the server answers.
var grpcStatuses = map[codes.Code]int{
	codes.InvalidArgument: http.StatusUnprocessableEntity, codes.Unauthenticated: http.StatusUnauthorized,
	codes.PermissionDenied: http.StatusForbidden, codes.NotFound: http.StatusNotFound,
	codes.AlreadyExists: http.StatusConflict, codes.FailedPrecondition: http.StatusPreconditionFailed,
	codes.Unavailable: http.StatusServiceUnavailable, codes.ResourceExhausted: http.StatusTooManyRequests,
}

// grpcError turns a call's status into an *Error: the code from the
// ErrorInfo detail (or the message's "<code>: " prefix), the fields from the
// BadRequest detail. A refused token is dropped, so that the next call
// fetches a new one.
func (g *GRPCChecker) grpcError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Status: http.StatusInternalServerError, Message: st.Message()}
	if s, ok := grpcStatuses[st.Code()]; ok {
		e.Status = s
	}
	if code, msg, ok := strings.Cut(st.Message(), ": "); ok && !strings.Contains(code, " ") {
		e.Code, e.Message = code, msg
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			e.Code = d.GetReason()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Details = append(e.Details, Detail{Field: v.GetField(), Message: v.GetDescription()})
			}
		}
	}
	if e.Code == "" {
		e.Code = "grpc_" + strings.ToLower(st.Code().String())
	}
	if e.Status == http.StatusUnauthorized {
		if r, ok := g.tokens.(renewer); ok {
			r.invalidate()
		}
	}
	return e
}
