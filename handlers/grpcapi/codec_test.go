package grpcapi

import (
	"testing"

	"google.golang.org/protobuf/proto"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/handlers"
)

// A batch is decoded no further than its check past the limit, however many
// the message holds; a smaller one, and any other message, whole.
func TestCodecStopsBatchPastTheLimit(t *testing.T) {
	for _, n := range []int{0, 1, handlers.MaxBatch, handlers.MaxBatch + 1, 400_000} {
		in := &rolegatev1.BatchCheckRequest{Checks: make([]*rolegatev1.CheckRequest, n)}
		for i := range in.Checks {
			in.Checks[i] = &rolegatev1.CheckRequest{}
		}
		in.Checks = append(in.Checks, &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-1"})
		data, err := proto.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out rolegatev1.BatchCheckRequest
		if err := (codec{}).Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		want := min(n+1, handlers.MaxBatch+1)
		if len(out.Checks) != want {
			t.Fatalf("%d checks sent: %d decoded, want %d", n+1, len(out.Checks), want)
		}
		if n+1 <= handlers.MaxBatch+1 && out.Checks[n].GetEntityId() != "acme" {
			t.Fatalf("%d checks sent: the last one decoded as %v", n+1, out.Checks[n])
		}
	}
	one := &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-1", ObjectType: "payable", Action: "read"}
	data, _ := proto.Marshal(one)
	var got rolegatev1.CheckRequest
	if err := (codec{}).Unmarshal(data, &got); err != nil || !proto.Equal(&got, one) {
		t.Fatalf("a single check: %v %v", &got, err)
	}
}
