package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/client"
)

// grpcAddr is the address of the server's gRPC API, from its log.
func (s *server) grpcAddr() string {
	s.t.Helper()
	for _, line := range strings.Split(s.output(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"grpc_addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "grpc listening" {
			return rec.Addr
		}
	}
	s.t.Fatalf("no grpc listening record in the log:\n%s", s.output())
	return ""
}

// grpcClient dials the server's gRPC API.
func grpcClient(t *testing.T, s *server) rolegatev1.CheckServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(s.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rolegatev1.NewCheckServiceClient(conn)
}

func withToken(token string) context.Context {
	ctx := context.Background()
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// grpcStatus asserts err is a status of code whose message starts with the
// error code errCode.
func grpcStatus(t *testing.T, what string, err error, code codes.Code, errCode string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || !strings.HasPrefix(st.Message(), errCode+": ") {
		t.Fatalf("%s: got %v, want %v %s", what, err, code, errCode)
	}
}

// grpcSetup makes two entities, a role of every kind of right and a user
// holding it, and a check client bound to acme; it returns that client's
// token.
func grpcSetup(t *testing.T, s *server) string {
	t.Helper()
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "beta"})
	role := s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "approver",
		"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "payable", "actions": []any{
			map[string]any{"action_name": "read", "permission": "allowed"},
			map[string]any{"action_name": "approve", "permission": "allowed_for_own"},
			map[string]any{"action_name": "update", "permission": "not_allowed"},
			map[string]any{"action_name": "delete", "permission": "denied"}}}}}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-17", "role_ids": []string{role["id"].(string)}})
	cl := s.must(201, "POST", "/v1/clients", map[string]any{"name": "acme checker", "entity_id": "acme", "scopes": []string{"check"}})
	st, tok := s.clientToken("/v1/auth/token", cl["client_id"].(string), cl["client_secret"].(string))
	if st != 200 || tok == "" {
		t.Fatalf("client token: %d", st)
	}
	return tok
}

// grpcQuestions cover every answer: allowed, allowed for own (owner or
// not), not allowed, denied, an unknown user and an unknown action.
func grpcQuestions() []*rolegatev1.CheckRequest {
	q := func(user, action, owner string) *rolegatev1.CheckRequest {
		return &rolegatev1.CheckRequest{EntityId: "acme", UserId: user, ObjectType: "payable", Action: action, OwnerId: owner}
	}
	return []*rolegatev1.CheckRequest{q("u-17", "read", ""), q("u-17", "approve", "u-17"), q("u-17", "approve", "u-99"),
		q("u-17", "update", ""), q("u-17", "delete", ""), q("u-99", "read", ""), q("u-17", "pay", "")}
}

func httpCheck(r *rolegatev1.CheckRequest) map[string]any {
	return map[string]any{"entity_id": r.EntityId, "user_id": r.UserId, "object_type": r.ObjectType,
		"action": r.Action, "owner_id": r.OwnerId, "scope": r.Scope}
}

// The gRPC API answers as POST /v1/check does, with the admin token and an
// API client's token, one by one, in a batch and on a stream (in order).
func TestGRPCChecksAgreeWithHTTP(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	clientTok := grpcSetup(t, s)
	gc := grpcClient(t, s)
	qs := grpcQuestions()
	for _, tok := range []string{testToken, clientTok} {
		want := make([]map[string]any, len(qs))
		for i, q := range qs {
			st, _, out := s.callToken(tok, "POST", "/v1/check", httpCheck(q))
			if st != 200 {
				t.Fatalf("http check %v: %d %v", q, st, out)
			}
			want[i] = out
		}
		same := func(what string, i int, got *rolegatev1.CheckResponse) {
			t.Helper()
			w := want[i]
			if got.GetAllowed() != w["allowed"] || got.GetPermission() != w["permission"] || float64(got.GetRevision()) != w["revision"] {
				t.Fatalf("%s %d (%v): grpc %v, http %v", what, i, qs[i], got, w)
			}
		}
		allowed := 0
		for i, q := range qs {
			got, err := gc.Check(withToken(tok), q)
			if err != nil {
				t.Fatalf("grpc check %v: %v", q, err)
			}
			same("check", i, got)
			if got.Allowed {
				allowed++
			}
		}
		if allowed != 2 || len(qs)-allowed != 5 {
			t.Fatalf("%d of %d allowed, want 2", allowed, len(qs))
		}
		b, err := gc.BatchCheck(withToken(tok), &rolegatev1.BatchCheckRequest{Checks: qs})
		if err != nil || len(b.Results) != len(qs) {
			t.Fatalf("batch: %v %v", b, err)
		}
		for i, r := range b.Results {
			same("batch", i, r)
		}
		stream, err := gc.CheckStream(withToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range qs { // one question, one answer, in order
			if err := stream.Send(q); err != nil {
				t.Fatal(err)
			}
			got, err := stream.Recv()
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			same("stream", i, got)
		}
		for _, q := range qs { // all questions first, then the answers
			if err := stream.Send(q); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		for i := range qs {
			got, err := stream.Recv()
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			same("stream", i, got)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("stream end: %v", err)
		}
	}
	// Explain: the matched role, as over HTTP.
	q := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-17", ObjectType: "payable", Action: "read", Explain: true}
	got, err := gc.Check(withToken(testToken), q)
	if err != nil || len(got.Matched) != 1 || got.Matched[0].RoleName != "approver" || got.Matched[0].Permission != "allowed" {
		t.Fatalf("explain: %v %v", got, err)
	}
	// The server stops with its gRPC API.
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(withToken(testToken), 2*time.Second)
	defer cancel()
	if _, err := gc.Check(ctx, q); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("after stop: %v", err)
	}
}

// Refusals are the HTTP API's, mapped to gRPC codes, with the error code
// first in the message; nothing is allowed on error.
func TestGRPCRefusals(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	clientTok := grpcSetup(t, s)
	gc := grpcClient(t, s)
	q := grpcQuestions()[0]

	_, err := gc.Check(withToken(""), q)
	grpcStatus(t, "no token", err, codes.Unauthenticated, "unauthenticated")
	_, err = gc.Check(withToken("wrong"), q)
	grpcStatus(t, "bad token", err, codes.Unauthenticated, "invalid_token")
	_, err = gc.BatchCheck(withToken("wrong"), &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{q}})
	grpcStatus(t, "bad token, batch", err, codes.Unauthenticated, "invalid_token")
	stream, err := gc.CheckStream(withToken("wrong"))
	if err == nil {
		_ = stream.Send(q)
		_, err = stream.Recv()
	}
	grpcStatus(t, "bad token, stream", err, codes.Unauthenticated, "invalid_token")

	// A client bound to acme asking about beta: what HTTP answers.
	other := &rolegatev1.CheckRequest{EntityId: "beta", UserId: "u-17", ObjectType: "payable", Action: "read"}
	st, _, out := s.callToken(clientTok, "POST", "/v1/check", httpCheck(other))
	httpCode := map[int]codes.Code{404: codes.NotFound, 403: codes.PermissionDenied}[st]
	if httpCode == codes.OK {
		t.Fatalf("http, other entity: %d %v", st, out)
	}
	_, err = gc.Check(withToken(clientTok), other)
	grpcStatus(t, "other entity", err, httpCode, errCode(out))
	_, err = gc.BatchCheck(withToken(clientTok), &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{q, other}})
	grpcStatus(t, "other entity, batch", err, httpCode, errCode(out))

	// An invalid scope: InvalidArgument with the HTTP API's code.
	bad := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-17", ObjectType: "payable", Action: "read", Scope: "team:42|x"}
	st, _, out = s.callToken(testToken, "POST", "/v1/check", httpCheck(bad))
	if st != 422 {
		t.Fatalf("http, bad scope: %d %v", st, out)
	}
	_, err = gc.Check(withToken(testToken), bad)
	grpcStatus(t, "bad scope", err, codes.InvalidArgument, errCode(out))
	stream, err = gc.CheckStream(withToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(q); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || !r.Allowed {
		t.Fatalf("stream before the bad question: %v %v", r, err)
	}
	_ = stream.Send(bad)
	_, err = stream.Recv()
	grpcStatus(t, "bad scope, stream", err, codes.InvalidArgument, errCode(out))

	// Batches: 1 to 1,000 checks.
	big := make([]*rolegatev1.CheckRequest, 1001)
	for i := range big {
		big[i] = q
	}
	_, err = gc.BatchCheck(withToken(testToken), &rolegatev1.BatchCheckRequest{Checks: big})
	grpcStatus(t, "1001 checks", err, codes.InvalidArgument, "invalid_batch")
	_, err = gc.BatchCheck(withToken(testToken), &rolegatev1.BatchCheckRequest{})
	grpcStatus(t, "no checks", err, codes.InvalidArgument, "invalid_batch")
	if b, err := gc.BatchCheck(withToken(testToken), &rolegatev1.BatchCheckRequest{Checks: big[:1000]}); err != nil || len(b.Results) != 1000 {
		t.Fatalf("1000 checks: %v", err)
	}
	many := make([]*rolegatev1.CheckRequest, 11)
	for i := range many {
		many[i] = &rolegatev1.CheckRequest{EntityId: "e" + string(rune('a'+i)), UserId: "u", ObjectType: "payable", Action: "read"}
	}
	_, err = gc.BatchCheck(withToken(testToken), &rolegatev1.BatchCheckRequest{Checks: many})
	grpcStatus(t, "11 entities", err, codes.InvalidArgument, "too_many_entities")

	// A token without the check scope.
	mg := s.must(201, "POST", "/v1/clients", map[string]any{"name": "manager", "entity_id": "acme", "scopes": []string{"manage"}})
	_, mtok := s.clientToken("/v1/auth/token", mg["client_id"].(string), mg["client_secret"].(string))
	st, _, out = s.callToken(mtok, "POST", "/v1/check", httpCheck(q))
	if st != 403 {
		t.Fatalf("http, no check scope: %d %v", st, out)
	}
	_, err = gc.Check(withToken(mtok), q)
	grpcStatus(t, "no check scope", err, codes.PermissionDenied, errCode(out))
}

// The Go client's GRPCChecker answers as its HTTP Check and CheckBatch do,
// with an API client's credentials, and reports refusals as *client.Error.
func TestGRPCGoClient(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	grpcSetup(t, s)
	cl := s.must(201, "POST", "/v1/clients", map[string]any{"name": "go client", "entity_id": "acme", "scopes": []string{"check"}})
	c, err := client.New(s.base, client.WithClientCredentials(cl["client_id"].(string), cl["client_secret"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(s.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g := c.GRPCChecker(conn)
	ctx := context.Background()
	var rs []client.CheckRequest
	for _, q := range grpcQuestions() {
		rs = append(rs, client.CheckRequest{EntityID: q.EntityId, UserID: q.UserId, ObjectType: q.ObjectType, Action: q.Action, OwnerID: q.OwnerId, Explain: true})
	}
	for _, r := range rs {
		want, err := c.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.Check(ctx, r)
		if err != nil || got.Allowed != want.Allowed || got.Permission != want.Permission || got.Revision != want.Revision || len(got.Matched) != len(want.Matched) {
			t.Fatalf("%v: grpc %+v %v, http %+v", r, got, err, want)
		}
	}
	want, err := c.CheckBatch(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.CheckBatch(ctx, rs)
	if err != nil || len(got) != len(want) {
		t.Fatalf("batch: %v %v", got, err)
	}
	for i := range got {
		if got[i].Allowed != want[i].Allowed || got[i].Permission != want[i].Permission {
			t.Fatalf("batch %d: grpc %+v, http %+v", i, got[i], want[i])
		}
	}
	bad := rs[0]
	bad.Scope = "team:42|x"
	_, herr := c.Check(ctx, bad)
	_, gerr := g.Check(ctx, bad)
	var he, ge *client.Error
	if !errors.As(herr, &he) || !errors.As(gerr, &ge) || ge.Status != he.Status || ge.Code != he.Code || len(ge.Details) != len(he.Details) {
		t.Fatalf("bad scope: grpc %#v, http %#v", gerr, herr)
	}
	other := rs[0]
	other.EntityID = "beta"
	_, herr = c.Check(ctx, other)
	_, gerr = g.Check(ctx, other)
	if !errors.As(herr, &he) || !errors.As(gerr, &ge) || ge.Status != he.Status || ge.Code != he.Code {
		t.Fatalf("other entity: grpc %#v, http %#v", gerr, herr)
	}
}

// The gRPC API is off unless asked for; an address that cannot be listened
// on stops the start (the setting itself: internal/app's TestGRPCSetting).
func TestGRPCSetting(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	if strings.Contains(s.output(), "grpc listening") {
		t.Fatalf("gRPC served without the setting:\n%s", s.output())
	}
	_, err := launch(t, map[string]string{"ROLEGATE_ADDR": "127.0.0.1:0", "ROLEGATE_ADMIN_TOKEN": testToken,
		"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:notaport"})
	if err == nil || !strings.Contains(err.Error(), "grpc") {
		t.Fatalf("bad grpc address: %v", err)
	}
}

// The gRPC port holds at most ROLEGATE_MAX_CONNECTIONS connections: past
// them, when each has a call in flight (idle ones are closed to make room:
// attack_grpc_test.go), a new one waits to be accepted until one is closed.
func TestGRPCConnectionBound(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0", "ROLEGATE_MAX_CONNECTIONS": "2"})
	var held []*grpc.ClientConn
	for range 2 {
		held = append(held, busyGRPCConn(t, s, ""))
	}
	gc := grpcClient(t, s)
	q := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u", ObjectType: "payable", Action: "read"}
	ctx, cancel := context.WithTimeout(withToken(testToken), time.Second)
	defer cancel()
	if _, err := gc.Check(ctx, q); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("third connection served: %v", err)
	}
	held[0].Close()
	ctx, cancel = context.WithTimeout(withToken(testToken), 30*time.Second)
	defer cancel()
	if _, err := gc.Check(ctx, q, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("after a connection closed: %v", err)
	}
}

// Checks over gRPC draw on the same rate limits as over HTTP: the caller's
// budget and the entity's are one, whatever the transport. One token per 20 s
// (burst 1), so no machine is slow enough for a bucket to refill meanwhile.
func TestGRPCRateLimited(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0",
		"ROLEGATE_RATE_LIMIT_CHECK": "0.05"})
	tok := grpcSetup(t, s)
	g := grpcClient(t, s)
	q := grpcQuestions()[0]

	if _, err := g.Check(withToken(tok), q); err != nil {
		t.Fatalf("first check: %v", err)
	}
	_, err := g.Check(withToken(tok), q)
	grpcStatus(t, "second check of the client", err, codes.ResourceExhausted, "rate_limited")
	_, err = g.BatchCheck(withToken(tok), &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{q}})
	grpcStatus(t, "a batch of the client", err, codes.ResourceExhausted, "rate_limited")
	stream, err := g.CheckStream(withToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(q); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	grpcStatus(t, "a streamed check of the client", err, codes.ResourceExhausted, "rate_limited")

	// The same budget over HTTP.
	if st, h, body := s.callToken(tok, "POST", "/v1/check", httpCheck(q)); st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("HTTP check after the gRPC ones: %d %v, want 429 with Retry-After", st, body)
	}
	// The entity's budget is spent too: the admin is refused on acme...
	_, err = g.Check(withToken(testToken), q)
	grpcStatus(t, "the admin's check on acme", err, codes.ResourceExhausted, "rate_limited")
	// ... and answered on another entity, whose budget is its own (the
	// admin's own budget was not charged by the refusal).
	other := &rolegatev1.CheckRequest{EntityId: "beta", UserId: "u-1", ObjectType: "payable", Action: "read"}
	if res, err := g.Check(withToken(testToken), other); err != nil || res.Allowed {
		t.Fatalf("the admin's check on beta: %v %v, want an answer, not allowed", res, err)
	}
}
