package systemtest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// BenchmarkClientCheckGRPC compares checks asked of the real server (a process on
// loopback) over HTTP and over gRPC, from 16 goroutines per processor, with
// the admin token and with an API client's token; checks/s is the rate:
//
//	go test -run '^$' -bench ClientCheckGRPC -benchtime 20000x ./systemtest/
func BenchmarkClientCheckGRPC(b *testing.B) {
	s := testkit.Start(b, map[string]string{"ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	grpcAddr := ""
	for _, line := range strings.Split(s.Output(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"grpc_addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "grpc listening" {
			grpcAddr = rec.Addr
		}
	}
	if _, _, err := net.SplitHostPort(grpcAddr); err != nil {
		b.Fatalf("no gRPC address in the log: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	clientAdmin, _ := client.New(s.URL, client.WithToken(testkit.AdminToken), client.WithHTTPClient(hc))
	ctx := context.Background()
	if _, err := clientAdmin.CreateEntity(ctx, "acme", ""); err != nil {
		b.Fatal(err)
	}
	r, err := clientAdmin.CreateRole(ctx, "acme", clientApprover())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := clientAdmin.CreateUser(ctx, "acme", client.UserInput{ID: "u1", RoleIDs: &[]string{r.ID}}); err != nil {
		b.Fatal(err)
	}
	cl, err := clientAdmin.CreateClient(ctx, client.APIClientInput{Name: "bench", EntityID: "acme", Scopes: []string{"check"}})
	if err != nil {
		b.Fatal(err)
	}
	svc, _ := client.New(s.URL, client.WithClientCredentials(cl.ClientID, cl.Secret), client.WithHTTPClient(hc))
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := client.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "read"}
	type checker interface {
		Check(context.Context, client.CheckRequest) (client.Decision, error)
	}
	for _, c := range []struct {
		name string
		c    checker
	}{{"http/admin", clientAdmin}, {"grpc/admin", clientAdmin.GRPCChecker(conn)}, {"http/client", svc}, {"grpc/client", svc.GRPCChecker(conn)}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if d, err := c.c.Check(ctx, req); err != nil || !d.Allowed {
						b.Error(d, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
		})
	}
}
