package grpcapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/auth"
)

type anyone struct{}

func (anyone) Authenticate(string) (auth.Actor, error) {
	return auth.Actor{ID: "a", Scopes: []string{auth.ScopeCheck}}, nil
}

// A panic in a call (here: no service) answers INTERNAL and leaves the
// server serving; grpc-go alone would end the process.
func TestPanicIsInternal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Deps{Auth: anyone{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := rolegatev1.NewCheckServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer x")
	q := &rolegatev1.CheckRequest{EntityId: "e", UserId: "u", ObjectType: "payable", Action: "read"}
	for range 2 {
		if _, err := c.Check(ctx, q); status.Code(err) != codes.Internal {
			t.Fatalf("check: %v", err)
		}
		st, err := c.CheckStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Send(q)
		if _, err := st.Recv(); status.Code(err) != codes.Internal {
			t.Fatalf("stream: %v", err)
		}
	}
}

// A stream that asks nothing is ended after StreamIdle with DEADLINE_EXCEEDED
// stream_idle (the watchdog cancels the context tap gave it).
func TestStreamIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Deps{Auth: anyone{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: Limits{StreamIdle: 200 * time.Millisecond}})
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := rolegatev1.NewCheckServiceClient(conn).CheckStream(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer x"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = st.Recv()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("idle stream: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("ended after %s", d)
	}
}
