package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// The hand-written check answers are what c.JSON writes, byte for byte and
// header for header; those it does not write go through c.JSON.
func TestCheckJSONIsEncodingJSON(t *testing.T) {
	until := "2026-12-05T19:43:52.123Z"
	odd := "a<b"
	id, name := "r1", "Role \"1\""
	cases := []checkResponse{
		{Allowed: true, Permission: "allowed", Revision: 12},
		{Permission: "not_allowed"},
		{Permission: "denied", Revision: -1},
		{Allowed: true, Permission: "allowed_for_own", Revision: 1 << 60, ValidUntil: &until},
		{Permission: odd},
		{Permission: "allowed", ValidUntil: &odd},
		{Allowed: true, Permission: "allowed", Matched: []matchJSON{}},
		{Allowed: true, Permission: "allowed", Matched: []matchJSON{{RoleID: &id, RoleName: &name, Permission: "allowed"}}},
		{Permission: "denied", DeniedBy: []matchJSON{{RoleID: &id, Permission: "denied"}}, GrantableBy: []matchJSON{}},
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
	for _, rs := range [][]checkResponse{cases[:1], cases[:4], cases, {}} {
		same(t, record(func(c *gin.Context) { writeCheckBatch(c, rs) }), record(func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"results": rs}) }))
	}
}
