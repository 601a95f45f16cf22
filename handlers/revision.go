package handlers

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate/policy"
)

// RevisionHeader carries, on the answer to every write (native API and
// facades), the revision the write took its entity to. A caller that must see
// its own change passes it back as a check's min_revision, whichever instance
// answers the check.
const RevisionHeader = "X-Rolegate-Revision"

// trackRevision lets the Service record the revisions a request's writes
// commit, and sets RevisionHeader from them just before the answer's headers
// go out.
func trackRevision() gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		ctx, rev := policy.TrackRevisions(c.Request.Context())
		c.Request = c.Request.WithContext(ctx)
		w := &revisionWriter{ResponseWriter: c.Writer, rev: rev}
		c.Writer = w
		c.Next()
		w.set() // an answer without a body (204) is written after the handlers
		c.Writer = w.ResponseWriter
	}
}

// revisionWriter sets RevisionHeader before the headers are written.
type revisionWriter struct {
	gin.ResponseWriter
	rev  func() int64
	done bool
}

func (w *revisionWriter) set() {
	if w.done || w.ResponseWriter.Written() {
		return
	}
	w.done = true
	if r := w.rev(); r > 0 {
		w.Header().Set(RevisionHeader, strconv.FormatInt(r, 10))
	}
}

func (w *revisionWriter) WriteHeaderNow() {
	w.set()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *revisionWriter) Write(b []byte) (int, error) {
	w.set()
	return w.ResponseWriter.Write(b)
}

func (w *revisionWriter) WriteString(s string) (int, error) {
	w.set()
	return w.ResponseWriter.WriteString(s)
}
