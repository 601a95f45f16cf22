package systemtest

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/handlers"
)

// Transport attacks against the real server: oversized bodies and headers,
// slow-loris connections, missing and garbage credentials on every route of
// every API. Nothing may be written, nothing may answer 500, and no
// credential may reach the log.

// hardPublic are the routes served without a token.
var hardPublic = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /openapi.json": true,
	"GET /.well-known/jwks.json": true, "POST /v1/auth/token": true, "POST /v1/accounts/:oid/auth/token": true,
	"GET /console": true, "GET /console/*asset": true, // the console's files: no data (attack_console_test.go)
}

// hardRoutes lists every route of the router, as the server registers them.
func hardRoutes() gin.RoutesInfo {
	return handlers.NewRouter(handlers.Deps{Pprof: true}).(*gin.Engine).Routes()
}

// hardPath fills a route's parameters.
func hardPath(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		switch {
		case p == ":oid" || p == ":entity":
			parts[i] = "T12345678"
		case strings.HasPrefix(p, ":"):
			parts[i] = "x1"
		case strings.HasPrefix(p, "*"):
			parts[i] = "heap"
		}
	}
	return strings.Join(parts, "/")
}

// hardHeaders let a request reach each API's handlers.
func hardHeaders(path string) string {
	h := "x-monite-version: 2024-05-25\r\nx-monite-entity-id: T12345678\r\nX-Entity-Id: T12345678\r\n"
	if strings.HasPrefix(path, "/api/") {
		return h + "Content-Type: application/vnd.api+json\r\n"
	}
	return h + "Content-Type: application/json\r\n"
}

// hardExchange sends a request head on a new connection, then, while the
// answer is read, the body (write errors are ignored: the server may stop
// reading). It returns the answer.
func hardExchange(t *testing.T, s *server, head string, body func(io.Writer)) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		go body(conn)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", strings.SplitN(head, "\r\n", 2)[0], err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(data)
}

// hardState is what the store holds, as the API shows it.
func hardState(s *server) string {
	var b strings.Builder
	for _, p := range []string{"/v1/entities", "/v1/entities/T12345678", "/v1/entities/T12345678/roles?status=all",
		"/v1/entities/T12345678/users", "/v1/entities/T12345678/users/u1/roles"} {
		st, _, out := s.raw("GET", p, "")
		fmt.Fprintf(&b, "%s %d %v\n", p, st, out)
	}
	return b.String()
}

func TestTransportAttacks(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_PPROF": "true",
		"ROLEGATE_LOG_LEVEL": "debug", "ROLEGATE_READ_HEADER_TIMEOUT": "500ms", "ROLEGATE_MAX_HEADER_BYTES": "8192"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/T12345678/roles", map[string]any{"name": "reader"})
	s.must(201, "POST", "/v1/entities/T12345678/users", map[string]any{"id": "u1", "role_ids": []string{role.ID}})
	before := hardState(s)
	routes := hardRoutes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes", len(routes))
	}
	const payload = `{"name":"pwned","id":"pwned","scope":["admin:x"],"role_ids":[],"data":{"type":"role","attributes":{"name":"pwned"}}}`

	t.Run("missing or garbage credentials: 401 on every route", func(t *testing.T) {
		garbage := []string{"", "Bearer", "Bearer ", "Bearer garbage", "Basic " + base64.StdEncoding.EncodeToString([]byte("test:"+testToken)),
			"Token " + testToken, "Bearer " + testToken + "x", "Bearer " + strings.ToUpper(testToken),
			"Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInNjb3BlIjoiYWRtaW4ifQ.",
			"Bearer " + strings.Repeat("A", 4000), "Bearer t\u00e9st"}
		n := 0
		for _, rt := range routes {
			if hardPublic[rt.Method+" "+rt.Path] {
				continue
			}
			path := hardPath(rt.Path)
			for _, auth := range garbage {
				head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n", rt.Method, path, hardHeaders(path), len(payload))
				if auth != "" {
					head += "Authorization: " + auth + "\r\n"
				}
				res, body := hardExchange(t, s, head+"\r\n"+payload, nil)
				n++
				if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(body, "{") {
					t.Errorf("%s %s with %.30q: %d, WWW-Authenticate %q: %s", rt.Method, path, auth,
						res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
				}
			}
		}
		t.Logf("%d unauthenticated requests", n)
	})

	// Token endpoints exist only in builds with API clients.
	extra := []gin.RouteInfo{}
	if st, _, out := s.raw("POST", "/v1/auth/token", ""); st != 404 || errCode(obj(out)) != "route_not_found" {
		extra = append(extra, gin.RouteInfo{Method: "POST", Path: "/v1/auth/token"}, gin.RouteInfo{Method: "POST", Path: "/v1/accounts/:oid/auth/token"})
	}

	// The user import's limit is 8 MiB; every other route's 1 MiB.
	limitOf := func(path string) int {
		if strings.HasSuffix(path, "/users/import") {
			return 8 << 20
		}
		return 1 << 20
	}
	t.Run("declared body over 1 MiB: 413 on every route", func(t *testing.T) {
		for _, rt := range append(append(routes, extra...), gin.RouteInfo{Method: "POST", Path: "/no/such/route"}) {
			path := hardPath(rt.Path)
			for _, auth := range []string{"", "Authorization: Bearer " + testToken + "\r\n"} {
				head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%s%sContent-Length: %d\r\n\r\n", rt.Method, path, hardHeaders(path), auth, 2*limitOf(path))
				res, body := hardExchange(t, s, head, func(w io.Writer) { _, _ = io.WriteString(w, payload) })
				if res.StatusCode != 413 || !strings.Contains(body, "{") {
					t.Errorf("%s %s (token: %v): %d %s", rt.Method, path, auth != "", res.StatusCode, body)
				}
			}
		}
	})

	t.Run("streamed body over 1 MiB: 413 on every route that takes a body", func(t *testing.T) {
		chunk := strings.Repeat("x", 64<<10)
		for _, rt := range append(routes, extra...) {
			if rt.Method == "GET" || rt.Method == "DELETE" || strings.HasPrefix(rt.Path, "/debug/") {
				continue
			}
			path := hardPath(rt.Path)
			head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%sAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n", rt.Method, path, hardHeaders(path), testToken)
			res, body := hardExchange(t, s, head, func(w io.Writer) {
				fmt.Fprintf(w, "9\r\n{\"name\":\"\r\n")
				for i := 0; i < limitOf(path)/len(chunk)+4; i++ {
					if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
						return
					}
				}
				fmt.Fprintf(w, "2\r\n\"}\r\n0\r\n\r\n")
			})
			if res.StatusCode != 413 {
				t.Errorf("%s %s: %d %s", rt.Method, path, res.StatusCode, body)
			}
		}
	})

	t.Run("headers over the limit: 431", func(t *testing.T) {
		for _, head := range []string{
			"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n",
			"GET /v1/entities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + strings.Repeat("a", 16<<10) + "\r\n\r\n",
			"GET /v1/entities HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: a\r\n", 2000) + "\r\n",
		} {
			res, body := hardExchange(t, s, head, nil)
			if res.StatusCode != 431 {
				t.Errorf("%.40q...: %d %s", head, res.StatusCode, body)
			}
		}
	})

	t.Run("slow-loris: headers not sent within the read-header timeout close the connection", func(t *testing.T) {
		for _, name := range []string{"trickle", "silent"} {
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			done := make(chan struct{})
			if name == "trickle" {
				go func() {
					_, _ = io.WriteString(conn, "GET /v1/entities HTTP/1.1\r\nHost: x\r\n")
					for i := 0; i < 100; i++ {
						select {
						case <-done:
							return
						case <-time.After(100 * time.Millisecond):
						}
						if _, err := io.WriteString(conn, "X-Slow: a\r\n"); err != nil {
							return
						}
					}
				}()
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			data, err := io.ReadAll(conn)
			elapsed := time.Since(start)
			close(done)
			conn.Close()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s: the server kept the connection open for %v", name, elapsed)
			}
			if elapsed < 400*time.Millisecond || elapsed > 5*time.Second || strings.Contains(string(data), " 200 ") {
				t.Fatalf("%s: closed after %v with %q (%v)", name, elapsed, data, err)
			}
		}
		if st, _, _ := s.call("GET", "/healthz", nil); st != 200 {
			t.Fatalf("server unwell after slow clients: %d", st)
		}
	})

	if after := hardState(s); after != before {
		t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	out := s.output()
	if !strings.Contains(out, `"msg":"request"`) {
		t.Fatalf("no access log at debug level:\n%.2000s", out)
	}
	for _, secret := range []string{testToken, strings.ToUpper(testToken), base64.StdEncoding.EncodeToString([]byte("test:" + testToken)), "eyJhbGciOiJub25l"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds a credential %q", secret)
		}
	}
	if strings.Contains(out, `"status":500`) || strings.Contains(out, `"level":"ERROR"`) {
		t.Fatalf("an attack caused an error:\n%s", out)
	}
}
