package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	wire "github.com/rolegate/rolegate/api"

	"github.com/gin-gonic/gin"
)

// The hand-written check answers are what c.JSON writes, byte for byte and
// header for header; those it does not write go through c.JSON.
func TestCheckJSONIsEncodingJSON(t *testing.T) {
	until := time.Date(2026, 12, 5, 19, 43, 52, 123e6, time.UTC)
	whole := time.Date(2026, 12, 5, 20, 43, 52, 0, time.FixedZone("CET", 3600)) // written as 19:43:52.000Z
	odd := "a<b"
	id, name := "r1", "Role \"1\""
	cases := []wire.Decision{
		{Allowed: true, Permission: "allowed", Revision: 12},
		{Permission: "not_allowed"},
		{Permission: "denied", Revision: -1},
		{Allowed: true, Permission: "allowed_for_own", Revision: 1 << 60, ValidUntil: &until},
		{Permission: odd},
		{Permission: "allowed", ValidUntil: &whole},
		{Allowed: true, Permission: "allowed", Matched: []wire.Match{}},
		{Allowed: true, Permission: "allowed", Matched: []wire.Match{{RoleID: &id, RoleName: &name, Permission: "allowed"}}},
		{Permission: "denied", DeniedBy: []wire.Match{{RoleID: &id, Permission: "denied"}}, GrantableBy: []wire.Match{}},
	}
	record := func(f func(*gin.Context)) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		f(c)
		return w
	}
	same := func(t *testing.T, got, want *httptest.ResponseRecorder) {
		t.Helper()
		if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Fatalf("got %d %q %q, want %d %q %q", got.Code, got.Header().Get("Content-Type"), got.Body, want.Code, want.Header().Get("Content-Type"), want.Body)
		}
	}
	for _, r := range cases {
		b, _ := json.Marshal(r)
		t.Run(string(b), func(t *testing.T) {
			same(t, record(func(c *gin.Context) { writeCheck(c, r) }), record(func(c *gin.Context) { c.JSON(http.StatusOK, r) }))
		})
	}
	for _, rs := range [][]wire.Decision{cases[:1], cases[:4], cases, {}} {
		same(t, record(func(c *gin.Context) { writeCheckBatch(c, rs) }), record(func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"results": rs}) }))
	}
}
