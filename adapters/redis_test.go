package adapters

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate/changes"
)

// TestRedisNotifier publishes changes through the Redis of
// ROLEGATE_TEST_REDIS_URL on a channel of its own and hears them.
func TestRedisNotifier(t *testing.T) {
	url := os.Getenv("ROLEGATE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("ROLEGATE_TEST_REDIS_URL not set: skipping the Redis notifier test")
	}
	r, err := OpenRedis(url, "rolegate-test:"+uuid.NewString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() }) // after the subscription ends
	l := listen(t, r)
	l.waitReady(t, 1)
	at := time.Now().Add(-time.Second).Round(0)
	want := changes.Change{EntityID: "acme", Revision: 7, At: at, Origin: "a"}
	if err := r.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	got := l.next(t)
	if got.EntityID != want.EntityID || got.Revision != want.Revision || !got.At.Equal(at) || got.Origin != "a" {
		t.Fatalf("heard %+v, want %+v", got, want)
	}
	// A malformed message on the channel is ignored, not delivered.
	if err := r.client.Publish(ctx, r.channel, "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(ctx, changes.Change{EntityID: "b", Revision: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t); got.EntityID != "b" {
		t.Fatalf("after a malformed message: %+v", got)
	}
}

// TestRedisReconnects stops a private redis-server under a subscription and
// starts it again: the subscription comes back by itself (ready is called
// again) and hears what is published after.
func TestRedisReconnects(t *testing.T) {
	rs := startRedis(t)
	r, err := OpenRedis(rs.url(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	l := listen(t, r)
	l.waitReady(t, 1)
	rs.stop(t)
	if err := r.Publish(ctx, changes.Change{EntityID: "lost", Revision: 1, At: time.Now()}); err == nil {
		t.Fatal("publishing with Redis down succeeded")
	}
	time.Sleep(300 * time.Millisecond) // the subscription notices and retries
	rs.start(t)
	l.waitReady(t, 2)
	l.mu.Lock()
	losses := l.losses
	l.mu.Unlock()
	if losses != 1 {
		t.Fatalf("lost the subscription %d times, want 1", losses)
	}
	if err := r.Publish(ctx, changes.Change{EntityID: "after", Revision: 2, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t); got.EntityID != "after" {
		t.Fatalf("after the restart: %+v", got)
	}
}

// listener collects what a subscription hears.
type listener struct {
	changes chan changes.Change
	mu      sync.Mutex
	readies int
	losses  int
}

func listen(t *testing.T, r *Redis) *listener {
	l := &listener{changes: make(chan changes.Change, 16)}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- r.Subscribe(sctx, func(c changes.Change) { l.changes <- c }, func(up bool) {
			l.mu.Lock()
			if up {
				l.readies++
			} else {
				l.losses++
			}
			l.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscribe: %v", err)
		}
	})
	return l
}

func (l *listener) waitReady(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		got := l.readies
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribed %d times, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *listener) next(t *testing.T) changes.Change {
	t.Helper()
	select {
	case c := <-l.changes:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("nothing heard within 5 s")
	}
	return changes.Change{}
}

// redisServer is a private redis-server on a free port, so that stopping it
// disturbs nothing shared.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed: skipping the Redis reconnection test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &redisServer{port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	rs.start(t)
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

func (rs *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", rs.port) }

func (rs *redisServer) start(t *testing.T) {
	t.Helper()
	rs.cmd = exec.Command("redis-server", "--port", strconv.Itoa(rs.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := rs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", rs.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d did not start", rs.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (rs *redisServer) stop(t *testing.T) {
	if rs.cmd == nil {
		return
	}
	rs.cmd.Process.Kill()
	rs.cmd.Wait()
	rs.cmd = nil
}
