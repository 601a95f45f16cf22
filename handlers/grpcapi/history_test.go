package grpcapi

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rolegate/rolegate"
	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
)

// A check's as_of and at_revision are read as over HTTP: the service gets
// the instant or the revision; both, either with min_revision, a revision
// below 1, the zero instant or a Timestamp out of range are refused with
// the HTTP codes, naming the check in a batch.
func TestAsOfOverGRPC(t *testing.T) {
	past := time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)
	rev := func(n int64) *int64 { return &n }
	q := func(mod func(*rolegatev1.CheckRequest)) *rolegatev1.CheckRequest {
		r := &rolegatev1.CheckRequest{EntityId: "e", UserId: "u", ObjectType: "payable", Action: "approve"}
		mod(r)
		return r
	}
	if r, err := domain(q(func(r *rolegatev1.CheckRequest) { r.AsOf = timestamppb.New(past) }), "resource"); err != nil || !r.AsOf.Time.Equal(past) || r.AsOf.Revision != 0 {
		t.Fatalf("as_of: %+v %v", r.AsOf, err)
	}
	if r, err := domain(q(func(r *rolegatev1.CheckRequest) { r.AtRevision = rev(7) }), "resource"); err != nil || r.AsOf.Revision != 7 || !r.AsOf.Time.IsZero() {
		t.Fatalf("at_revision: %+v %v", r.AsOf, err)
	}
	if r, err := domain(q(func(*rolegatev1.CheckRequest) {}), "resource"); err != nil || !r.AsOf.IsNow() {
		t.Fatalf("now: %+v %v", r.AsOf, err)
	}
	for _, tc := range []struct {
		mod         func(*rolegatev1.CheckRequest)
		code, field string
	}{
		{func(r *rolegatev1.CheckRequest) { r.AsOf, r.AtRevision = timestamppb.New(past), rev(3) }, "invalid_as_of", "as_of"},
		{func(r *rolegatev1.CheckRequest) { r.AsOf, r.MinRevision = timestamppb.New(past), 3 }, "invalid_as_of", "as_of"},
		{func(r *rolegatev1.CheckRequest) { r.AtRevision, r.MinRevision = rev(2), 3 }, "invalid_as_of", "at_revision"},
		{func(r *rolegatev1.CheckRequest) { r.AtRevision = rev(0) }, "invalid_revision", "at_revision"},
		{func(r *rolegatev1.CheckRequest) { r.AtRevision = rev(-1) }, "invalid_revision", "at_revision"},
		{func(r *rolegatev1.CheckRequest) { r.AsOf = timestamppb.New(time.Time{}) }, "before_entity", "as_of"},
		{func(r *rolegatev1.CheckRequest) { r.AsOf = &timestamppb.Timestamp{Seconds: 1 << 60} }, "invalid_as_of", "as_of"},
		{func(r *rolegatev1.CheckRequest) { r.AsOf = &timestamppb.Timestamp{Nanos: -1} }, "invalid_as_of", "as_of"},
	} {
		for _, field := range []string{"resource", "checks[2].resource"} {
			_, err := domain(q(tc.mod), field)
			var e *rolegate.Error
			prefix := field[:len(field)-len("resource")]
			if !errors.As(err, &e) || e.Code != tc.code || len(e.Details) == 0 || e.Details[0].Field != prefix+tc.field {
				t.Errorf("%s: %v, want %s on %s", q(tc.mod), err, tc.code, prefix+tc.field)
			}
		}
	}
}
