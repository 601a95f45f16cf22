package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// pageToken is what an opaque pagination token carries: which list it is for,
// the query of the first request, where the page starts and in which
// direction it goes.
type pageToken struct {
	List   string      `json:"l"`
	Entity string      `json:"e,omitempty"`
	Query  url.Values  `json:"q,omitempty"`
	Cursor *cursorJSON `json:"c,omitempty"`
	Prev   bool        `json:"p,omitempty"`
}

// cursorJSON is a policy.Cursor inside a token.
type cursorJSON struct {
	Value string `json:"v"`
	ID    string `json:"id"`
}

func (c cursorJSON) domain() *policy.Cursor { return &policy.Cursor{Value: c.Value, ID: c.ID} }

func (t pageToken) encode() *string {
	b, _ := json.Marshal(t)
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

func invalidToken() error {
	return rolegate.Invalid("invalid_pagination_token", "pagination_token", "pagination_token is not a token this list gave")
}

// pageRequest reads limit and pagination_token: with a token, the query of the
// first request comes back from it.
func pageRequest(c *gin.Context, list, entity string) (url.Values, *pageToken, int, error) {
	q := c.Request.URL.Query()
	var tok *pageToken
	if raw := q.Get("pagination_token"); raw != "" {
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil {
			return nil, nil, 0, invalidToken()
		}
		var t pageToken
		if err := json.Unmarshal(b, &t); err != nil || t.List != list || t.Entity != entity || t.Cursor == nil {
			return nil, nil, 0, invalidToken()
		}
		tok = &t
		limit := q.Get("limit")
		q = t.Query
		if q == nil {
			q = url.Values{}
		}
		if limit != "" {
			q.Set("limit", limit)
		}
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return nil, nil, 0, rolegate.Invalid("invalid_limit", "limit", "limit must be an integer from 1 to 100")
		}
		limit = n
	}
	return q, tok, limit, nil
}

// keyset fetches one page of a keyset-ordered list in either direction and
// builds the tokens of the pages around it. fetch gets the page to ask the
// store for (one more row than the limit, to know whether more follow); key
// gives a row's cursor.
func keyset[T any](list, entity string, query url.Values, tok *pageToken, p policy.Page,
	fetch func(policy.Page) ([]T, error), key func(T) policy.Cursor) ([]T, *string, *string, error) {
	limit := p.Limit
	p.Limit = limit + 1
	backward := tok != nil && tok.Prev
	if tok != nil {
		p.After = tok.Cursor.domain()
	}
	if backward {
		p.Desc = !p.Desc
	}
	rows, err := fetch(p)
	if err != nil {
		return nil, nil, nil, err
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	if backward {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	q := url.Values{}
	for k, v := range query {
		if k != "pagination_token" && k != "limit" {
			q[k] = v
		}
	}
	mk := func(row T, prev bool) *string {
		c := key(row)
		return pageToken{List: list, Entity: entity, Query: q, Cursor: &cursorJSON{Value: c.Value, ID: c.ID}, Prev: prev}.encode()
	}
	var next, prev *string
	if len(rows) > 0 {
		first, last := rows[0], rows[len(rows)-1]
		if backward {
			if more {
				prev = mk(first, true)
			}
			next = mk(last, false)
		} else {
			if more {
				next = mk(last, false)
			}
			if tok != nil {
				prev = mk(first, true)
			}
		}
	}
	if rows == nil {
		rows = []T{}
	}
	return rows, next, prev, nil
}
