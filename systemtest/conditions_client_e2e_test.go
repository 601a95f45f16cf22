package systemtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/client/ginguard"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Conditions of the clients' end-to-end tests: approve under 1,000 EUR, pay up
// to the user's limit, delete denied when locked (or when that cannot be
// told), read without a condition.
const (
	condApprove = `resource.amount < 1000.0 && resource.currency == "EUR"`
	condPay     = `resource.amount <= user.limit`
	condLocked  = `resource.locked`
)

func conditionalRights() *client.Permissions {
	return &client.Permissions{Objects: []client.ObjectPermissions{{ObjectType: "payable", Actions: []client.ActionPermission{
		{ActionName: "read", Permission: "allowed"},
		{ActionName: "approve", Permission: "allowed", Condition: condApprove},
		{ActionName: "pay", Permission: "allowed", Condition: condPay},
		{ActionName: "delete", Permission: "denied", Condition: condLocked}}}}}
}

// conditionsServer starts a server (with the gRPC API) holding entities acme
// and beta; in acme a role "approver" of conditionalRights and user u-17
// holding it with the attribute limit 5000. It returns the server and an
// admin client.
func conditionsServer(t *testing.T) (*server, *client.Client) {
	t.Helper()
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"})
	c, err := client.New(s.base, client.WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []string{"acme", "beta"} {
		if _, err := c.CreateEntity(ctx, e, ""); err != nil {
			t.Fatal(err)
		}
	}
	name := "approver"
	r, err := c.CreateRole(ctx, "acme", client.RoleInput{Name: &name, Permissions: conditionalRights()})
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]any{"limit": 5000}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u-17", RoleIDs: &[]string{r.ID}, Attributes: &attrs}); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func payable(action string, res map[string]any) client.CheckRequest {
	return client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: action, Resource: res}
}

func eur(amount any) map[string]any { return map[string]any{"amount": amount, "currency": "EUR"} }

// The Go client's checks carry the resource, explain names each condition
// with its value or error, and a user's attributes set through UpdateUser
// are what conditions read as user.
func TestConditionsClient(t *testing.T) {
	s, c := conditionsServer(t)
	_ = s
	ctx := context.Background()
	allowed := func(r client.CheckRequest) bool {
		t.Helper()
		d, err := c.Check(ctx, r)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		return d.Allowed
	}
	for _, tc := range []struct {
		action string
		res    map[string]any
		want   bool
	}{
		{"approve", eur(500), true}, {"approve", eur(500.5), true}, {"approve", eur(1200), false},
		{"approve", map[string]any{"amount": 500, "currency": "USD"}, false}, {"approve", nil, false},
		{"approve", map[string]any{"amount": 500}, false}, {"approve", map[string]any{"amount": "500", "currency": "EUR"}, false},
		{"pay", eur(5000), true}, {"pay", eur(5001), false}, {"pay", nil, false},
		{"read", nil, true}, {"read", eur(1e9), true},
	} {
		if got := allowed(payable(tc.action, tc.res)); got != tc.want {
			t.Errorf("%s %v: allowed %v, want %v", tc.action, tc.res, got, tc.want)
		}
	}
	// explain: the condition, with its value, or why it could not be read
	d, err := c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "approve", Resource: eur(1200), Explain: true})
	if err != nil || len(d.Matched) != 1 || d.Matched[0].Condition != condApprove || d.Matched[0].ConditionValue == nil || *d.Matched[0].ConditionValue {
		t.Fatalf("explained 1200: %+v %v", d, err)
	}
	d, err = c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "approve", Resource: map[string]any{"amount": 1}, Explain: true})
	if err != nil || len(d.Matched) != 1 || d.Matched[0].ConditionError == "" || d.Matched[0].ConditionValue != nil {
		t.Fatalf("explained without currency: %+v %v", d, err)
	}
	// a conditional deny applies when true or when it cannot be evaluated
	for res, want := range map[string]string{`{"locked":true}`: "denied", `{"locked":false}`: "not_allowed", `{}`: "denied"} {
		var m map[string]any
		if res == `{"locked":true}` {
			m = map[string]any{"locked": true}
		} else if res == `{"locked":false}` {
			m = map[string]any{"locked": false}
		}
		d, err := c.Check(ctx, payable("delete", m))
		if err != nil || d.Allowed || d.Permission != want {
			t.Errorf("delete %s: %+v %v, want %s", res, d, err, want)
		}
	}
	// the user's attributes, replaced whole by UpdateUser
	lower := map[string]any{"limit": 1000}
	u, err := c.UpdateUser(ctx, "acme", "u-17", client.UserInput{Attributes: &lower})
	if err != nil || u.Attributes["limit"] != float64(1000) {
		t.Fatalf("update: %+v %v", u, err)
	}
	testkit.Eventually(t, 5*time.Second, "the lower limit applies", func() bool { return !allowed(payable("pay", eur(4000))) })
	if got, err := c.GetUser(ctx, "acme", "u-17", false); err != nil || len(got.Attributes) != 1 || got.Attributes["limit"] != float64(1000) {
		t.Fatalf("get: %+v %v", got.Attributes, err)
	}
	none := map[string]any{}
	if u, err = c.UpdateUser(ctx, "acme", "u-17", client.UserInput{Attributes: &none}); err != nil || len(u.Attributes) != 0 {
		t.Fatalf("clear: %+v %v", u, err)
	}
	testkit.Eventually(t, 5*time.Second, "no limit: pay never holds", func() bool { return !allowed(payable("pay", eur(1))) })

	// Attack: a resource the server refuses is an error, never an answer;
	// so is another tenant's client.
	for name, res := range map[string]map[string]any{
		"nested": {"owner": map[string]any{"id": "u-1"}}, "long name": {string(make([]byte, 65)): 1},
	} {
		d, err := c.Check(ctx, payable("approve", res))
		if st, code := clientErrCode(t, err); st != 422 || code != "invalid_attributes" || d.Allowed {
			t.Errorf("%s: %d %s %+v", name, st, code, d)
		}
	}
	many := map[string]any{}
	for i := range 65 {
		many["a"+strconv.Itoa(i)] = i
	}
	if _, err := c.Check(ctx, payable("approve", many)); err == nil {
		t.Error("65 attributes were taken")
	}
	beta, err := c.CreateClient(ctx, client.APIClientInput{Name: "beta checker", EntityID: "beta", Scopes: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := client.New(s.base, client.WithClientCredentials(beta.ClientID, beta.Secret))
	if d, err := bc.Check(ctx, payable("approve", eur(1))); err == nil || d.Allowed {
		t.Fatalf("beta's client checked acme: %+v %v", d, err)
	}
	nobody, _ := client.New(s.base)
	if d, err := nobody.Check(ctx, payable("approve", eur(1))); err == nil || d.Allowed {
		t.Fatalf("no token: %+v %v", d, err)
	}
}

// The decision cache gives two answers to the same question about two
// resources, from memory once it follows the feed, and drops them when the
// user's attributes change.
func TestConditionsClientCache(t *testing.T) {
	s, c := conditionsServer(t)
	_ = s
	ctx := context.Background()
	cache := client.NewCache(c, client.CacheOptions{})
	defer cache.Close()
	ask := func(r client.CheckRequest) bool {
		t.Helper()
		d, err := cache.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	for range 20 {
		if !ask(payable("approve", eur(500))) || ask(payable("approve", eur(1200))) || ask(payable("approve", nil)) {
			t.Fatal("the cache mixed up the resources' answers")
		}
		if !ask(payable("pay", eur(4000))) {
			t.Fatal("pay 4000 under the limit 5000")
		}
	}
	if n := cache.Len(); n != 4 {
		t.Fatalf("%d decisions kept, want 4 (one per resource)", n)
	}
	lower := map[string]any{"limit": 1000}
	if _, err := c.UpdateUser(ctx, "acme", "u-17", client.UserInput{Attributes: &lower}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the cache sees the user's new limit", func() bool { return !ask(payable("pay", eur(4000))) })
	if !ask(payable("approve", eur(500))) || ask(payable("approve", eur(1200))) {
		t.Fatal("answers after the change")
	}
}

// A guard rule's Resource goes with the check, in net/http and in Gin (read
// from the Gin context), through the client and through its cache; a request
// without the attributes is refused.
func TestConditionsClientGuard(t *testing.T) {
	s, c := conditionsServer(t)
	_ = s
	cache := client.NewCache(c, client.CacheOptions{})
	defer cache.Close()
	fromQuery := func(r *http.Request) map[string]any {
		a := r.URL.Query().Get("amount")
		if a == "" {
			return nil
		}
		n, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return map[string]any{"amount": a, "currency": "EUR"}
		}
		return eur(n)
	}
	rule := client.Rule{ObjectType: "payable", Action: "approve", Subject: clientSubject, Resource: fromQuery}
	ginRule := rule
	ginRule.Resource = ginguard.Resource(func(c *gin.Context) map[string]any {
		n, err := strconv.ParseFloat(c.Param("amount"), 64)
		if err != nil {
			return nil
		}
		return eur(n)
	})
	for name, ch := range map[string]client.Checker{"client": c, "cache": cache} {
		ok := func(w http.ResponseWriter, r *http.Request) {
			if d, found := client.DecisionFrom(r.Context()); !found || !d.Allowed {
				http.Error(w, "handler ran without an allow", 500)
			}
		}
		mux := http.NewServeMux()
		mux.Handle("POST /approve", client.Middleware(ch, rule)(http.HandlerFunc(ok)))
		std := httptest.NewServer(mux)
		defer std.Close()
		g := gin.New()
		g.POST("/approve/:amount", ginguard.Require(ch, ginRule), func(c *gin.Context) { ok(c.Writer, c.Request) })
		gs := httptest.NewServer(g)
		defer gs.Close()
		for range 3 { // the cache answers the later rounds
			for url, want := range map[string]int{
				std.URL + "/approve?amount=500": 200, std.URL + "/approve?amount=1200": 403, std.URL + "/approve": 403,
				std.URL + "/approve?amount=x": 403,
				gs.URL + "/approve/500":       200, gs.URL + "/approve/999.5": 200, gs.URL + "/approve/1200": 403, gs.URL + "/approve/x": 403,
			} {
				if st, body := clientHit(t, "POST", url, "u-17"); st != want {
					t.Fatalf("%s %s: %d %s, want %d", name, url, st, body, want)
				}
			}
		}
	}
}
