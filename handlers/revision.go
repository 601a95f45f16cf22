package handlers

import (
	"strconv"

	"github.com/gin-gonic/gin"
)

// RevisionHeader carries, on the answer to every write (native API and
// facades), the revision the write took its entity to. A caller that must see
// its own change passes it back as a check's min_revision, whichever instance
// answers the check.
const RevisionHeader = "X-Rolegate-Revision"

// setRevision answers RevisionHeader with rev, the revision a Service write
// returned, right after the write: 0 (a dry run, nothing committed) sets
// nothing, and of a request's several writes the highest is answered.
func setRevision(c *gin.Context, rev int64) {
	if rev <= 0 {
		return
	}
	if cur, err := strconv.ParseInt(c.Writer.Header().Get(RevisionHeader), 10, 64); err == nil && cur >= rev {
		return
	}
	c.Header(RevisionHeader, strconv.FormatInt(rev, 10))
}
