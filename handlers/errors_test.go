package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// The request's own faults the domain has no kind for keep their status and
// code through classify, wrapped or not.
func TestClassifyRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{&http.MaxBytesError{Limit: 10}, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{payloadTooLarge("too big"), http.StatusRequestEntityTooLarge, "payload_too_large"},
		{fmt.Errorf("decode: %w", unsupportedMedia("send JSON")), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{badRequest("invalid_json", "not JSON"), http.StatusBadRequest, "invalid_json"},
	} {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("POST", "/v1/check", nil)
		status, e := classify(c, tc.err)
		if status != tc.status || e.Code != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.err, status, e.Code, tc.status, tc.code)
		}
	}
}
