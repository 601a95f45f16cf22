// Command payables is an example service guarded by Rolegate: every route
// asks Rolegate whether the caller may do what the route does, through the
// Go client's net/http middleware (with a local decision cache in front).
//
//	ROLEGATE_SERVER=http://localhost:8080 ROLEGATE_CLIENT_ID=... ROLEGATE_CLIENT_SECRET=... \
//	  go run ./examples/payables
//	curl -H 'X-Tenant: acme' -H 'X-User: u-17' localhost:8090/payables
//
// The tenant and user come from headers here, as a gateway that has
// authenticated the caller would set them; a real service takes them from its
// own session or token. ROLEGATE_TOKEN may replace the client credentials.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rolegate/rolegate/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	server := os.Getenv("ROLEGATE_SERVER")
	if server == "" {
		server = "http://localhost:8080"
	}
	auth := client.WithToken(os.Getenv("ROLEGATE_TOKEN"))
	if id := os.Getenv("ROLEGATE_CLIENT_ID"); id != "" {
		auth = client.WithClientCredentials(id, os.Getenv("ROLEGATE_CLIENT_SECRET"))
	}
	rg, err := client.New(server, auth)
	if err != nil {
		return err
	}
	cache := client.NewCache(rg, client.CacheOptions{Size: 10000})
	defer cache.Close()

	subject := func(r *http.Request) (string, string, error) {
		entity, user := r.Header.Get("X-Tenant"), r.Header.Get("X-User")
		if entity == "" || user == "" {
			return "", "", errors.New("X-Tenant and X-User are required")
		}
		return entity, user, nil
	}
	guard := func(action string, h http.HandlerFunc) http.Handler {
		return client.Middleware(cache, client.Rule{ObjectType: "payable", Action: action, Subject: subject,
			Owner: func(r *http.Request) string { return r.URL.Query().Get("owner") }})(h)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /payables", guard("read", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode([]map[string]any{{"id": "p-1", "amount": 120}})
	}))
	mux.Handle("POST /payables/{id}/approve", guard("approve", func(w http.ResponseWriter, r *http.Request) {
		d, _ := client.DecisionFrom(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{"approved": r.PathValue("id"), "as": d.Permission})
	}))

	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("payables listening on %s, asking %s", addr, server)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
