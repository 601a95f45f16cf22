package handlers

import (
	"net/http"
	"strconv"

	wire "github.com/rolegate/rolegate/api"

	"github.com/gin-gonic/gin"
)

// The check answers are written by hand when they hold no explanation (what
// nearly every check answers): byte for byte what encoding/json writes, for
// a fraction of its reflection. Anything else goes through encoding/json.

// jsonContentType is the Content-Type gin's c.JSON answers.
const jsonContentType = "application/json; charset=utf-8"

// appendCheckJSON appends r as encoding/json writes it, or reports false
// when r is not one it writes by hand (an explanation, an unusual string).
func appendCheckJSON(b []byte, r *wire.Decision) ([]byte, bool) {
	if r.Matched != nil || r.DeniedBy != nil || r.GrantableBy != nil || !plainJSON(r.Permission) {
		return b, false
	}
	b = append(b, `{"allowed":`...)
	b = strconv.AppendBool(b, r.Allowed)
	b = append(b, `,"permission":"`...)
	b = append(b, r.Permission...)
	b = append(b, `","revision":`...)
	b = strconv.AppendInt(b, r.Revision, 10)
	if r.ValidUntil != nil {
		b = append(b, `,"valid_until":"`...)
		b = r.ValidUntil.UTC().AppendFormat(b, wire.ValidUntilLayout)
		b = append(b, '"')
	}
	return append(b, '}'), true
}

// plainJSON reports whether s is written as itself inside a JSON string:
// letters, digits and a few punctuation marks, nothing encoding/json
// escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == ':', c == '.':
		default:
			return false
		}
	}
	return true
}

// writeCheck answers one check as c.JSON would.
func writeCheck(c *gin.Context, r wire.Decision) {
	if b, ok := appendCheckJSON(make([]byte, 0, 96), &r); ok {
		c.Data(http.StatusOK, jsonContentType, b)
		return
	}
	c.JSON(http.StatusOK, r)
}

// writeCheckBatch answers a batch as c.JSON(gin.H{"results": rs}) would.
func writeCheckBatch(c *gin.Context, rs []wire.Decision) {
	b := make([]byte, 0, 16+64*len(rs))
	b = append(b, `{"results":[`...)
	for i := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendCheckJSON(b, &rs[i]); !ok {
			c.JSON(http.StatusOK, gin.H{"results": rs})
			return
		}
	}
	b = append(b, "]}"...)
	c.Data(http.StatusOK, jsonContentType, b)
}
