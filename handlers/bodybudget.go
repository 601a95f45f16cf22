package handlers

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/semaphore"

	"github.com/rolegate/rolegate"
)

// A handler reads its request's whole body into memory (at most MaxBodyBytes)
// before decoding it. A caller that sends bodies slowly over many connections
// would make the server hold one such buffer per connection; the bodies being
// read at once share a budget instead. A body takes its share (its declared
// length, or the most a body may be when it is streamed) when a handler first
// reads it, so only callers that got past authentication ever take any, and
// gives it back when its request ends. Before a body is decoded it also takes
// what decoding it costs in memory (charge, decodelimit.go): a small body can
// decode into far more than its bytes. A body that finds the budget spent is
// 503 server_busy with Retry-After: nothing waits holding a connection.

// DefaultBodyMemory is the default budget of the bodies read at once: 64
// bodies of the largest size, or tens of thousands of usual ones.
const DefaultBodyMemory = 64 << 20

// errBodyBudget is what reading a body returns when the budget is spent.
var errBodyBudget = errors.New("the server is reading too many request bodies")

// serverBusy is the 503 of a body refused by the budget.
func serverBusy() error {
	return &rolegate.Error{Kind: rolegate.KindUnavailable, Code: "server_busy",
		Message: "the server is busy reading other requests; try again", Err: errBodyBudget}
}

// budgetedBody takes its share of the budget on the first read.
type budgetedBody struct {
	io.ReadCloser
	budget *semaphore.Weighted
	share  int64
	total  int64 // the whole budget
	extra  int64 // charged for decoding (charge)
	mu     sync.Mutex
	held   bool
	denied bool
	done   bool // its request ended: reads no longer take a share
}

func (b *budgetedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if !b.held && !b.denied && !b.done {
		if b.budget.TryAcquire(b.share) {
			b.held = true
		} else {
			b.denied = true
		}
	}
	denied := b.denied
	b.mu.Unlock()
	if denied {
		return 0, errBodyBudget
	}
	return b.ReadCloser.Read(p)
}

// charge takes n more bytes of the budget, for what decoding the body
// costs in memory beyond its bytes (decodelimit.go), until the request
// ends: 503 server_busy when the budget is spent, 413 when the body alone
// would take more than the whole budget.
func (b *budgetedBody) charge(n int64) error {
	if n <= 0 {
		return nil
	}
	if n > b.total {
		return payloadTooLarge("the request body decodes to more memory than the server gives all requests at once")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return nil
	}
	if !b.budget.TryAcquire(n) {
		return serverBusy()
	}
	b.extra += n
	return nil
}

// release gives the share back, once.
func (b *budgetedBody) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if b.held {
		b.held = false
		b.budget.Release(b.share)
	}
	if b.extra > 0 {
		b.budget.Release(b.extra)
		b.extra = 0
	}
}

// maxTokenBody bounds the body of the token endpoints, which anyone may call:
// client credentials take a few hundred bytes. Their bodies are read before
// any authentication, so they stay out of the budget (which callers without
// credentials must not be able to spend); ROLEGATE_MAX_CONNECTIONS of them
// hold at most this much each.
const maxTokenBody = 16 << 10

// limitBody bounds request bodies: a declared length over the limit is 413 at
// once, a longer stream fails when read, and the bodies read at once share
// budget bytes.
func limitBody(max, budget int64) gin.HandlerFunc {
	sem := semaphore.NewWeighted(budget)
	return func(c *gin.Context) {
		if strings.HasSuffix(c.FullPath(), "/auth/token") {
			if c.Request.ContentLength > maxTokenBody {
				errorWriterFor(c.Request.URL.Path)(c, &http.MaxBytesError{Limit: maxTokenBody})
				return
			}
			if c.Request.Body != nil {
				c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxTokenBody)
			}
			c.Next()
			return
		}
		limit := max
		if c.FullPath() == importRoute {
			limit = max * ImportBodyFactor // the user import's larger limit
		}
		if c.Request.ContentLength > limit {
			errorWriterFor(c.Request.URL.Path)(c, &http.MaxBytesError{Limit: limit})
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			share := c.Request.ContentLength
			if share < 0 {
				share = limit // streamed: it may be as large as allowed
			}
			b := &budgetedBody{ReadCloser: http.MaxBytesReader(c.Writer, c.Request.Body, limit), budget: sem, share: min(share, budget), total: budget}
			c.Request.Body = b
			defer b.release()
		}
		c.Next()
	}
}
