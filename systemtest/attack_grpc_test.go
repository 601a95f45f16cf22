package systemtest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
)

// The gRPC port under attack: what the HTTP port's attack tests ask of it
// (connections, sizes, time, tokens, memory), asked of the gRPC API.

// grpcConnFrom dials the server's gRPC API from the local address from ("":
// any) and makes one call, so that the connection is up.
func grpcConnFrom(t *testing.T, s *server, from string) *grpc.ClientConn {
	t.Helper()
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := grpc.NewClient(s.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// idleGRPCConn is a connection that was answered once and holds no call.
func idleGRPCConn(t *testing.T, s *server, from string) *grpc.ClientConn {
	t.Helper()
	conn := grpcConnFrom(t, s, from)
	ctx, cancel := context.WithTimeout(withToken(testToken), 20*time.Second)
	defer cancel()
	if _, err := rolegatev1.NewCheckServiceClient(conn).Check(ctx, attackQuestion()); err != nil {
		t.Fatalf("idle connection's call: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // the server's order of "oldest" is ours
	return conn
}

// busyGRPCConn is a connection holding a stream that has been answered once
// and stays open: a call in flight.
func busyGRPCConn(t *testing.T, s *server, from string) *grpc.ClientConn {
	t.Helper()
	conn := grpcConnFrom(t, s, from)
	ctx, cancel := context.WithCancel(withToken(testToken))
	t.Cleanup(cancel)
	st, err := rolegatev1.NewCheckServiceClient(conn).CheckStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(attackQuestion()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("busy connection's stream: %v", err)
	}
	return conn
}

func attackQuestion() *rolegatev1.CheckRequest {
	return &rolegatev1.CheckRequest{EntityId: "acme", UserId: "u", ObjectType: "payable", Action: "read"}
}

// checkFrom asks one question on a new connection from from, waiting up to
// wait.
func checkFrom(t *testing.T, s *server, from string, wait time.Duration) error {
	t.Helper()
	conn := grpcConnFrom(t, s, from)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(withToken(testToken), wait)
	defer cancel()
	_, err := rolegatev1.NewCheckServiceClient(conn).Check(ctx, attackQuestion())
	return err
}

// One address holds at most ROLEGATE_MAX_CONNECTIONS_PER_ADDRESS gRPC
// connections: with them all busy a third is refused while another address
// is served; idle ones make room; connections that never speak do not lock
// the port (ROLEGATE_MAX_CONNECTIONS of them).
func TestAttackGRPCConnections(t *testing.T) {
	if err := exec127002(); err != nil {
		t.Skip(err)
	}
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0",
		"ROLEGATE_MAX_CONNECTIONS": "4", "ROLEGATE_MAX_CONNECTIONS_PER_ADDRESS": "2"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	a := busyGRPCConn(t, s, "127.0.0.1")
	busyGRPCConn(t, s, "127.0.0.1")
	if err := checkFrom(t, s, "127.0.0.1", 2*time.Second); err == nil {
		t.Fatal("a third busy-address connection was served")
	}
	if err := checkFrom(t, s, "127.0.0.2", 20*time.Second); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// One of the busy ones goes; two idle ones take the address's places:
	// a new one closes the idle one of the longest.
	a.Close()
	time.Sleep(200 * time.Millisecond)
	idleGRPCConn(t, s, "127.0.0.1")
	if err := checkFrom(t, s, "127.0.0.1", 20*time.Second); err != nil {
		t.Fatalf("with an idle connection of the address: %v", err)
	}

	// Connections that never speak (no HTTP/2 preface) fill the port: a
	// caller is still served.
	s2 := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0",
		"ROLEGATE_MAX_CONNECTIONS": "3"})
	for range 3 {
		silentConn(t, s2.grpcAddr())
	}
	if err := checkFrom(t, s2, "", 20*time.Second); status.Code(err) != codes.NotFound && err != nil {
		t.Fatalf("with the port full of silent connections: %v", err)
	}
}

// exec127002 reports whether 127.0.0.2 can be dialed from (Linux routes
// 127/8 to lo).
func exec127002() error {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		return err
	}
	return ln.Close()
}

// A message over 1 MiB is RESOURCE_EXHAUSTED before it is decoded; the
// server goes on serving, on the same connection.
func TestAttackGRPCOversizeMessage(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	tok := grpcSetup(t, s)
	gc := grpcClient(t, s)
	big := &rolegatev1.CheckRequest{EntityId: "acme", UserId: strings.Repeat("u", 2<<20), ObjectType: "payable", Action: "read"}
	_, err := gc.Check(withToken(tok), big)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("2 MiB check: %v", err)
	}
	_, err = gc.BatchCheck(withToken(tok), &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{big}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("2 MiB batch: %v", err)
	}
	if r, err := gc.Check(withToken(tok), grpcQuestions()[0]); err != nil || !r.Allowed {
		t.Fatalf("after: %v %v", r, err)
	}
}

// A stream that asks nothing is ended after ROLEGATE_GRPC_STREAM_IDLE_TIMEOUT;
// one whose answers are not read, after ROLEGATE_GRPC_CALL_TIMEOUT, having
// been sent no more than flow control holds.
func TestAttackGRPCStreamsThatStall(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0",
		"ROLEGATE_GRPC_STREAM_IDLE_TIMEOUT": "1s", "ROLEGATE_GRPC_CALL_TIMEOUT": "2s"})
	tok := grpcSetup(t, s)
	gc := grpcClient(t, s)

	start := time.Now()
	st, err := gc.CheckStream(withToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("silent stream: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("silent stream ended after %s", d)
	}

	// Questions, never a read: the server stops when its answers are not
	// taken, and ends the stream.
	ctx, cancel := context.WithCancel(withToken(tok))
	defer cancel()
	st, err = gc.CheckStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := grpcQuestions()[0]
	q.Explain = true // larger answers
	sent := 0
	sendDone := make(chan error, 1)
	go func() {
		for range 1_000_000 {
			if err := st.Send(q); err != nil {
				sendDone <- err
				return
			}
			sent++
		}
		sendDone <- nil
	}()
	select {
	case err := <-sendDone:
		if err == nil {
			t.Fatal("a million questions sent to a stream whose answers are not read")
		}
	case <-time.After(8 * time.Second):
		// The client's own Send blocks too (flow control): the server
		// stopped reading; now read, to see how it ended.
	}
	got := 0
	for {
		_, err = st.Recv()
		if err != nil {
			break
		}
		got++
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("unread stream: %v after %d answers", err, got)
	}
	t.Logf("unread stream: %d answers were held for the caller before it was ended", got)
	if got > 100_000 {
		t.Fatalf("%d answers held for a caller that does not read", got)
	}
	// The server goes on.
	if r, err := gc.Check(withToken(tok), grpcQuestions()[0]); err != nil || !r.Allowed {
		t.Fatalf("after: %v %v", r, err)
	}
}

// Calls without a token, with a bad or forged one, or with another entity's
// client token are refused, as over HTTP, on every method; a flood of
// invalid tokens from many callers leaves a valid caller served.
func TestAttackGRPCTokens(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	tok := grpcSetup(t, s)
	gc := grpcClient(t, s)
	beta := &rolegatev1.CheckRequest{EntityId: "beta", UserId: "u-17", ObjectType: "payable", Action: "read"}
	forged := "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0." + strings.Repeat("A", 86)
	none := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	for _, c := range []struct {
		what, token string
		code        codes.Code
	}{{"no token", "", codes.Unauthenticated}, {"garbage", "x", codes.Unauthenticated},
		{"forged ES256", forged, codes.Unauthenticated}, {"alg none", none, codes.Unauthenticated},
		{"another entity's client", tok, codes.NotFound}} {
		_, err := gc.Check(withToken(c.token), beta)
		if status.Code(err) != c.code {
			t.Fatalf("%s, check: %v, want %v", c.what, err, c.code)
		}
		_, err = gc.BatchCheck(withToken(c.token), &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{beta}})
		if status.Code(err) != c.code {
			t.Fatalf("%s, batch: %v, want %v", c.what, err, c.code)
		}
		st, err := gc.CheckStream(withToken(c.token))
		if err == nil {
			_ = st.Send(beta)
			_, err = st.Recv()
		}
		if status.Code(err) != c.code {
			t.Fatalf("%s, stream: %v, want %v", c.what, err, c.code)
		}
	}

	// The flood: 16 connections sending forged tokens as fast as they
	// are answered, while a valid caller checks.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused, other := 0, 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := grpcClient(t, s)
			bad := forged
			if i%2 == 1 {
				bad = "junk-" + strings.Repeat("x", 4000)
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.Check(withToken(bad), grpcQuestions()[0])
				mu.Lock()
				if status.Code(err) == codes.Unauthenticated {
					refused++
				} else {
					other++
				}
				mu.Unlock()
			}
		}()
	}
	var slowest time.Duration
	for range 50 {
		ctx, cancel := context.WithTimeout(withToken(tok), 10*time.Second)
		t0 := time.Now()
		r, err := gc.Check(ctx, grpcQuestions()[0])
		cancel()
		if err != nil || !r.Allowed {
			close(stop)
			wg.Wait()
			t.Fatalf("valid caller during the flood: %v %v", r, err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	close(stop)
	wg.Wait()
	t.Logf("flood: %d invalid tokens refused, valid checks answered within %s", refused, slowest)
	if other != 0 || refused == 0 {
		t.Fatalf("flood: %d refused, %d answered otherwise", refused, other)
	}
}

// x-request-id: a sane one is echoed (and logged), another replaced by one
// of the server's; calls are counted on /metrics.
func TestAttackGRPCRequestIDAndMetrics(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0",
		"ROLEGATE_LOG_LEVEL": "debug", "ROLEGATE_LOG_FORMAT": "json"})
	tok := grpcSetup(t, s)
	gc := grpcClient(t, s)
	for _, c := range []struct{ sent, want string }{{"req-42.a:b_c", "req-42.a:b_c"}, {"bad id with spaces", ""}, {strings.Repeat("a", 129), ""}} {
		var hdr metadata.MD
		ctx := metadata.AppendToOutgoingContext(withToken(tok), "x-request-id", c.sent)
		if _, err := gc.Check(ctx, grpcQuestions()[0], grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		got := hdr.Get("x-request-id")
		if len(got) != 1 || (c.want != "" && got[0] != c.want) || (c.want == "" && (got[0] == c.sent || len(got[0]) != 16)) {
			t.Fatalf("x-request-id %q: answered %q", c.sent, got)
		}
	}
	if !strings.Contains(s.output(), `"request_id":"req-42.a:b_c"`) || strings.Contains(s.output(), "bad id with spaces") {
		t.Fatalf("request id in the log:\n%s", s.output())
	}
	_, _ = gc.Check(withToken("x"), grpcQuestions()[0])
	req, _ := http.NewRequest("GET", s.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`rolegate_grpc_calls_total{code="OK",method="Check"} 3`, `rolegate_grpc_calls_total{code="Unauthenticated",method="Check"} 1`,
		`rolegate_grpc_call_duration_seconds_count{code="OK",method="Check"} 3`, "rolegate_grpc_open_streams 0"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics: no %q in\n%s", want, body)
		}
	}
}

// A flood of BatchChecks (32 callers at once: 24 sending five batches of
// 1,000 checks, 8 a batch of 1 MiB of empty checks) moves the server's peak RSS by at most 100 MiB, the
// bound of the HTTP API's junk-body test.
func TestAttackGRPCBatchFloodMemory(t *testing.T) {
	p := startProcess(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	tok := grpcSetup(t, p.server)
	gc := grpcClient(t, p.server)
	full := make([]*rolegatev1.CheckRequest, 1000)
	for i := range full {
		full[i] = grpcQuestions()[i%7]
	}
	if _, err := gc.BatchCheck(withToken(tok), &rolegatev1.BatchCheckRequest{Checks: full}); err != nil {
		t.Fatal(err) // warm
	}
	empty := make([]*rolegatev1.CheckRequest, 500_000) // ~1 MiB of empty checks
	for i := range empty {
		empty[i] = &rolegatev1.CheckRequest{}
	}
	pid := p.cmd.Process.Pid
	resetPeak(pid)
	before := peakRSS(t, pid)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := grpcClient(t, p.server)
			for round := range 5 {
				req := &rolegatev1.BatchCheckRequest{Checks: full}
				if i%4 == 0 {
					if round > 0 {
						return // one each: encoding them is the client's time
					}
					req.Checks = empty
				}
				_, err := c.BatchCheck(withToken(tok), req)
				if i%4 == 0 {
					if status.Code(err) != codes.InvalidArgument && status.Code(err) != codes.ResourceExhausted {
						errs <- errors.New("junk batch: " + status.Convert(err).String())
						return
					}
				} else if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	after := peakRSS(t, pid)
	limit := int64(100 << 20)
	if raceDetector {
		limit *= 3 // its shadow memory: +107 MiB seen where a plain build took +22
	}
	t.Logf("peak RSS: %d MiB before, %d MiB after 128 batches from 32 callers at once (+%d MiB)", before>>20, after>>20, (after-before)>>20)
	if after-before > limit {
		t.Errorf("a BatchCheck flood raised the server's peak RSS by %d MiB (limit %d MiB)", (after-before)>>20, limit>>20)
	}
}

// At most ROLEGATE_GRPC_MAX_STREAMS streams are open at once, over all
// connections: one more is UNAVAILABLE server_busy; unary calls go on, and
// the place is taken again once a stream ends.
func TestAttackGRPCOpenStreams(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0",
		"ROLEGATE_GRPC_MAX_STREAMS": "1"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	held := busyGRPCConn(t, s, "")
	gc := grpcClient(t, s)
	st, err := gc.CheckStream(withToken(testToken))
	if err == nil {
		_ = st.Send(attackQuestion())
		_, err = st.Recv()
	}
	grpcStatus(t, "second stream", err, codes.Unavailable, "server_busy")
	if _, err := gc.Check(withToken(testToken), attackQuestion()); err != nil {
		t.Fatalf("a check with the streams taken: %v", err)
	}
	held.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := gc.CheckStream(withToken(testToken))
		if err == nil {
			if err = st.Send(attackQuestion()); err == nil {
				_, err = st.Recv()
			}
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stream after the first ended: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
