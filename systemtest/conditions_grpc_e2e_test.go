package systemtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/client"
)

func pbStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gRPC checks read the resource and answer as HTTP checks do, one by one, in
// a batch and on a stream; explain carries each condition's value or error.
func TestConditionsGRPC(t *testing.T) {
	s, c := conditionsServer(t)
	gc := grpcClient(t, s)
	ctx := withToken(testToken)
	q := func(action string, res map[string]any) *rolegatev1.CheckRequest {
		r := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-17", ObjectType: "payable", Action: action}
		if res != nil {
			r.Resource = pbStruct(t, res)
		}
		return r
	}
	cases := []struct {
		action string
		res    map[string]any
	}{
		{"approve", eur(500)}, {"approve", eur(1200)}, {"approve", nil}, {"approve", map[string]any{"amount": 500}},
		{"pay", eur(5000)}, {"pay", eur(5001)}, {"delete", map[string]any{"locked": true}}, {"delete", map[string]any{"locked": false}},
		{"delete", nil}, {"read", map[string]any{"tags": []any{"a", 1.5, true, nil}}},
	}
	batch := &rolegatev1.BatchCheckRequest{}
	want := make([]client.Decision, len(cases))
	for i, tc := range cases {
		w, err := c.Check(context.Background(), payable(tc.action, tc.res))
		if err != nil {
			t.Fatal(err)
		}
		want[i] = w
		got, err := gc.Check(ctx, q(tc.action, tc.res))
		if err != nil || got.GetAllowed() != w.Allowed || got.GetPermission() != w.Permission {
			t.Fatalf("%s %v: grpc %v %v, http %+v", tc.action, tc.res, got, err, w)
		}
		batch.Checks = append(batch.Checks, q(tc.action, tc.res))
	}
	if !want[0].Allowed || want[1].Allowed || want[2].Allowed || !want[4].Allowed || want[5].Allowed || want[6].Permission != "denied" || want[8].Permission != "denied" {
		t.Fatalf("the answers themselves: %+v", want)
	}
	out, err := gc.BatchCheck(ctx, batch)
	if err != nil || len(out.GetResults()) != len(cases) {
		t.Fatalf("batch: %v %v", out, err)
	}
	for i, got := range out.GetResults() {
		if got.GetAllowed() != want[i].Allowed || got.GetPermission() != want[i].Permission {
			t.Fatalf("batch %d: %v, want %+v", i, got, want[i])
		}
	}
	st, err := gc.CheckStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range batch.Checks {
		if err := st.Send(r); err != nil {
			t.Fatal(err)
		}
		got, err := st.Recv()
		if err != nil || got.GetAllowed() != want[i].Allowed {
			t.Fatalf("stream %d: %v %v", i, got, err)
		}
	}
	_ = st.CloseSend()

	// explain: value false, and an error for a missing attribute
	ex := q("approve", eur(1200))
	ex.Explain = true
	got, err := gc.Check(ctx, ex)
	if err != nil || len(got.GetMatched()) != 1 {
		t.Fatalf("explain: %v %v", got, err)
	}
	m := got.GetMatched()[0]
	if m.GetCondition() != condApprove || m.ConditionValue == nil || m.GetConditionValue() || m.GetConditionError() != "" {
		t.Fatalf("explained match: %v", m)
	}
	ex = q("approve", map[string]any{"amount": 1})
	ex.Explain = true
	if got, err = gc.Check(ctx, ex); err != nil || len(got.GetMatched()) != 1 || got.GetMatched()[0].ConditionValue != nil || got.GetMatched()[0].GetConditionError() == "" {
		t.Fatalf("explained without currency: %v %v", got, err)
	}

	// The Go client's gRPC transport carries both ways.
	conn, err := grpc.NewClient(s.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g := c.GRPCChecker(conn)
	for i, tc := range cases {
		d, err := g.Check(context.Background(), payable(tc.action, tc.res))
		if err != nil || d.Allowed != want[i].Allowed || d.Permission != want[i].Permission {
			t.Fatalf("GRPCChecker %s %v: %+v %v, want %+v", tc.action, tc.res, d, err, want[i])
		}
	}
	r := payable("approve", map[string]any{"amount": 1200, "currency": "EUR"})
	r.Explain = true
	d, err := g.Check(context.Background(), r)
	if err != nil || len(d.Matched) != 1 || d.Matched[0].Condition != condApprove || d.Matched[0].ConditionValue == nil || *d.Matched[0].ConditionValue {
		t.Fatalf("GRPCChecker explain: %+v %v", d, err)
	}
	rs := []client.CheckRequest{payable("approve", eur(500)), payable("approve", map[string]any{"amount": []string{"x"}})}
	ds, err := g.CheckBatch(context.Background(), rs)
	if err != nil || !ds[0].Allowed || ds[1].Allowed {
		t.Fatalf("GRPCChecker batch: %+v %v", ds, err)
	}
}

// Attack: a resource the service refuses is INVALID_ARGUMENT
// invalid_attributes naming the field, never an answer; no token, another
// tenant's client, and a client that may not read roles get no more than
// over HTTP.
func TestConditionsGRPCAttack(t *testing.T) {
	s, _ := conditionsServer(t)
	gc := grpcClient(t, s)
	ctx := withToken(testToken)
	nested := structpb.NewStructValue(pbStruct(t, map[string]any{"id": "u-1"}))
	deep := nested
	for range 90 {
		deep = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"x": deep}})
	}
	many := map[string]*structpb.Value{}
	for i := range 65 {
		many[fmt.Sprintf("a%d", i)] = structpb.NewNumberValue(1)
	}
	lots := map[string]*structpb.Value{}
	for i := range 20_000 {
		lots[fmt.Sprintf("k%d", i)] = structpb.NewBoolValue(true)
	}
	bads := map[string]map[string]*structpb.Value{
		"nested":         {"amount": structpb.NewNumberValue(1), "currency": structpb.NewStringValue("EUR"), "owner": nested},
		"deeply nested":  {"x": deep},
		"object in list": {"l": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{nested}})},
		"65 fields":      many,
		"20,000 fields":  lots,
		"long string":    {"s": structpb.NewStringValue(strings.Repeat("x", 1025))},
		"long name":      {strings.Repeat("n", 65): structpb.NewBoolValue(true)},
		"empty name":     {"": structpb.NewBoolValue(true)},
	}
	for name, fields := range bads {
		r := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-17", ObjectType: "payable", Action: "approve", Resource: &structpb.Struct{Fields: fields}}
		got, err := gc.Check(ctx, r)
		grpcStatus(t, name, err, codes.InvalidArgument, "invalid_attributes")
		if got.GetAllowed() {
			t.Fatalf("%s: allowed", name)
		}
		// in a batch, the field names the check
		b := &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{
			{EntityId: "acme", UserId: "u-17", ObjectType: "payable", Action: "read"}, r}}
		_, err = gc.BatchCheck(ctx, b)
		grpcStatus(t, name+" in a batch", err, codes.InvalidArgument, "invalid_attributes")
		if !strings.Contains(status.Convert(err).Message(), "checks[1].resource") {
			t.Fatalf("%s in a batch: %v", name, err)
		}
	}
	good := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-17", ObjectType: "payable", Action: "approve", Resource: pbStruct(t, eur(1))}
	_, err := gc.Check(withToken(""), good)
	grpcStatus(t, "no token", err, codes.Unauthenticated, "unauthenticated")
	cl := s.must(201, "POST", "/v1/clients", map[string]any{"name": "beta checker", "entity_id": "beta", "scopes": []string{"check"}})
	_, betaTok := s.clientToken("/v1/auth/token", cl["client_id"].(string), cl["client_secret"].(string))
	// (NOT_FOUND, as over HTTP: another tenant's entity is not shown to exist)
	if got, err := gc.Check(withToken(betaTok), good); status.Code(err) != codes.NotFound || got.GetAllowed() {
		t.Fatalf("beta's client on acme: %v %v", got, err)
	}
	// A client with only the check scope learns whether a condition held,
	// not what it reads.
	cl = s.must(201, "POST", "/v1/clients", map[string]any{"name": "acme checker", "entity_id": "acme", "scopes": []string{"check"}})
	_, acmeTok := s.clientToken("/v1/auth/token", cl["client_id"].(string), cl["client_secret"].(string))
	ex := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-17", ObjectType: "payable", Action: "approve", Resource: pbStruct(t, eur(1200)), Explain: true}
	got, err := gc.Check(withToken(acmeTok), ex)
	if err != nil || len(got.GetMatched()) != 1 || strings.Contains(got.GetMatched()[0].GetCondition(), "amount") || got.GetMatched()[0].ConditionValue == nil {
		t.Fatalf("check-scope explain: %v %v", got, err)
	}
}
