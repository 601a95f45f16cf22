package systemtest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/testkit"
)

// Hole: one caller could take all of an entity's long-poll slots of the
// changes feed, so that every other follower of the entity got busy answers.
// Each caller (the token's subject) now has a share of an entity's waiting
// calls; one more is 429 rate_limited with Retry-After, at once, while other
// callers still wait.
func TestAttackChangesFeedOneCallerTakesEverySlot(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_MAX_CHANGE_WAITERS_PER_ENTITY": "10", "ROLEGATE_MAX_CHANGE_WAITERS_PER_CALLER": "3"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	mallory, alice := s.clientOf("", "manage"), s.clientOf("acme", "manage")
	type answer struct {
		status int
		retry  string
		body   string
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	since := map[string]int64{"acme": 1, "other": 1}
	poll := func(token, entity string, wait int) chan answer {
		ch := make(chan answer, 1)
		path := fmt.Sprintf("/v1/entities/%s/changes?since=%d&wait=%d", entity, since[entity], wait)
		go func() {
			req, _ := http.NewRequest("GET", s.base+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			if err != nil {
				ch <- answer{status: -1, body: err.Error()}
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			ch <- answer{res.StatusCode, res.Header.Get("Retry-After"), string(b)}
		}()
		return ch
	}
	var held []chan answer
	for range 3 {
		held = append(held, poll(mallory, "acme", 25))
	}
	testkit.Eventually(t, 10*time.Second, "mallory's 3 polls wait", func() bool { return s.changeWaiters() == 3 })
	// One more: 429 at once (on main it waited, here up to 3 s, and took a slot).
	if got := <-poll(mallory, "acme", 3); got.status != 429 || got.retry != "1" || !strings.Contains(got.body, `"code":"rate_limited"`) {
		t.Fatalf("past mallory's share: %+v", got)
	}
	// Without wait, mallory still reads the feed; on another entity she may wait.
	if st, _, out := s.callToken(mallory, "GET", "/v1/entities/acme/changes?since=1", nil); st != 200 {
		t.Fatalf("mallory without wait: %d %v", st, out)
	}
	held = append(held, poll(mallory, "other", 25))
	// Alice still waits on acme.
	held = append(held, poll(alice, "acme", 25))
	testkit.Eventually(t, 10*time.Second, "5 polls wait", func() bool { return s.changeWaiters() == 5 })
	// A write on each entity wakes them all, with the change.
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u"})
	s.must(201, "POST", "/v1/entities/other/users", map[string]any{"id": "u"})
	for _, ch := range held {
		if got := <-ch; got.status != 200 || got.retry != "" || !strings.Contains(got.body, `"user_id":"u"`) {
			t.Fatalf("a waiting poll after a write: %+v", got)
		}
	}
	testkit.Eventually(t, 10*time.Second, "no poll waits", func() bool { return s.changeWaiters() == 0 })
	// The share is back.
	since["acme"] = int64(s.must(200, "GET", "/v1/entities/acme/changes?since=0", nil)["revision"].(float64))
	back := poll(mallory, "acme", 25)
	testkit.Eventually(t, 10*time.Second, "mallory waits again", func() bool { return s.changeWaiters() == 1 })
	s.must(204, "DELETE", "/v1/entities/acme/users/u", nil)
	if got := <-back; got.status != 200 {
		t.Fatalf("mallory again: %+v", got)
	}
}
