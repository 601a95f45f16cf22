package systemtest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const healthzRequest = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

// idleConn opens a keep-alive connection, is served once and leaves it idle.
func idleConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	return idleConnFrom(t, addr, "")
}

// idleConnFrom is idleConn from the local address from ("": any).
func idleConnFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, healthzRequest); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("keep-alive connection: %v %v", res, err)
	}
	res.Body.Close()
	// The server marks the connection idle just after the response is
	// written; wait for that before the next one is opened, so that the
	// order the tests call "oldest" is the server's order too, also on a
	// loaded machine.
	time.Sleep(100 * time.Millisecond)
	return conn
}

// silentConn opens a connection that sends nothing.
func silentConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	return silentConnFrom(t, addr, "")
}

// silentConnFrom is silentConn from the local address from ("": any).
func silentConnFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// busyConn sends a request whose body never comes, and returns once its
// handler runs.
func busyConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	return busyConnFrom(t, addr, "")
}

// busyConnFrom is busyConn from the local address from ("": any).
func busyConnFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	conn := silentConnFrom(t, addr, from)
	head := "POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken +
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, " 100 ") {
		t.Fatalf("busy connection: %q %v", line, err)
	}
	return conn
}

// freshGet asks /healthz on a connection of its own (from the local address
// from, when not ""); the timeout only ends a test that would otherwise wait
// for the server's idle timeout (120 s).
func freshGet(base, from string) error {
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	res, err := hc.Get(base + "/healthz")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return errors.New(res.Status)
	}
	return nil
}

// closedByServer waits until the server closes conn (EOF or reset), up to
// 20 s.
func closedByServer(conn net.Conn) bool {
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestAttackIdleConnectionsDoNotLockOut: with ROLEGATE_MAX_CONNECTIONS
// connections held idle (keep-alive between requests, or opened and never
// used), a new caller is still answered: the connection idle the longest is
// closed to make room.
func TestAttackIdleConnectionsDoNotLockOut(t *testing.T) {
	// The header timeout is long, so that silent connections would hold
	// their slot as long as idle ones.
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_MAX_CONNECTIONS": "20",
		"ROLEGATE_MAX_CONNECTIONS_PER_ADDRESS": "0", "ROLEGATE_READ_HEADER_TIMEOUT": "2m", "ROLEGATE_BUSY_IDLE_TIMEOUT": "2m"})
	addr := strings.TrimPrefix(s.base, "http://")

	t.Run("idle keep-alive connections", func(t *testing.T) {
		var held []net.Conn
		for i := 0; i < 20; i++ {
			held = append(held, idleConn(t, addr))
		}
		if err := freshGet(s.base, ""); err != nil {
			t.Fatalf("a new caller with 20 idle connections held: %v", err)
		}
		if !closedByServer(held[0]) {
			t.Fatal("the oldest idle connection was not the one closed")
		}
	})

	t.Run("connections that send nothing", func(t *testing.T) {
		var held []net.Conn
		for i := 0; i < 20; i++ {
			held = append(held, silentConn(t, addr))
		}
		for i := 0; i < 3; i++ {
			if err := freshGet(s.base, ""); err != nil {
				t.Fatalf("a new caller with 20 silent connections held: %v", err)
			}
		}
		if !closedByServer(held[0]) {
			t.Fatal("the oldest silent connection was not closed")
		}
	})

	if st, _, _ := s.call("GET", "/healthz", nil); st != 200 {
		t.Fatalf("server unwell after the attack: %d", st)
	}
}

// TestAttackConnectionsPerAddress: one address holds at most
// ROLEGATE_MAX_CONNECTIONS_PER_ADDRESS connections: past it its idle ones
// make room, and when all are busy the new one is refused, while another
// address is served.
func TestAttackConnectionsPerAddress(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_MAX_CONNECTIONS": "50",
		"ROLEGATE_MAX_CONNECTIONS_PER_ADDRESS": "3", "ROLEGATE_READ_TIMEOUT": "2m"})
	addr := strings.TrimPrefix(s.base, "http://")

	// From an address of its own: the test harness's pooled connections
	// from 127.0.0.1 may be idle longer than these.
	idle := []net.Conn{idleConnFrom(t, addr, "127.0.0.4"), idleConnFrom(t, addr, "127.0.0.4"), idleConnFrom(t, addr, "127.0.0.4")}
	if err := freshGet(s.base, "127.0.0.4"); err != nil {
		t.Fatalf("a fourth connection with three idle: %v", err)
	}
	if !closedByServer(idle[0]) {
		t.Fatal("the address's oldest idle connection was not closed")
	}
	for _, c := range idle {
		c.Close()
	}

	// Three busy connections: requests whose handler is reading a body that
	// does not come (the server's "100 Continue" tells it is running). From
	// an address of their own: the server may not yet have seen the end of
	// the connections above (a closed one counts until its handler returns).
	for i := 0; i < 3; i++ {
		busyConnFrom(t, addr, "127.0.0.3")
	}
	if err := freshGet(s.base, "127.0.0.3"); err == nil {
		t.Fatal("a fourth connection from an address holding three busy ones was served")
	}
	if err := freshGet(s.base, "127.0.0.2"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestAttackIdleUnderPressure: while three quarters of the cap are held,
// an idle connection is closed after ROLEGATE_BUSY_IDLE_TIMEOUT rather than
// the usual 120 s.
func TestAttackIdleUnderPressure(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_MAX_CONNECTIONS": "8",
		"ROLEGATE_BUSY_IDLE_TIMEOUT": "1s"})
	addr := strings.TrimPrefix(s.base, "http://")
	var held []net.Conn
	for i := 0; i < 6; i++ {
		held = append(held, idleConn(t, addr))
	}
	for i, c := range held {
		if !closedByServer(c) {
			t.Fatalf("idle connection %d still open 20 s into pressure", i)
		}
	}
	if err := freshGet(s.base, ""); err != nil {
		t.Fatal(err)
	}
}

// TestAttackBusyConnectionsHoldTheCap: past ROLEGATE_MAX_CONNECTIONS, while
// every connection is busy with a request, a new one waits to be accepted
// (each held costs a goroutine and its buffers); it is served once one ends.
func TestAttackBusyConnectionsHoldTheCap(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_MAX_CONNECTIONS": "4",
		"ROLEGATE_READ_TIMEOUT": "2m"})
	addr := strings.TrimPrefix(s.base, "http://")
	var held []net.Conn
	for i := 0; i < 4; i++ {
		held = append(held, busyConn(t, addr))
	}
	extra := silentConn(t, addr) // the kernel accepts it into the backlog
	if _, err := io.WriteString(extra, healthzRequest); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(extra)
	// Served at once, it would answer in milliseconds; it must not while
	// the four are busy.
	_ = extra.SetReadDeadline(time.Now().Add(time.Second))
	if res, err := http.ReadResponse(br, nil); err == nil {
		t.Fatalf("a fifth connection was served while four were busy: %d", res.StatusCode)
	}
	held[0].Close() // one ends: the fifth is served
	_ = extra.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the waiting connection after one ended: %v %v", res, err)
	}
	res.Body.Close()
}
