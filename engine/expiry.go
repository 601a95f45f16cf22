package engine

import (
	"strconv"
	"time"

	"github.com/rolegate/rolegate"
)

// Expiring assignments. An assignment may carry an expiry: its g rule then
// has a fourth value, the instant it stops counting in Unix milliseconds,
//
//	g, u:<user_id>, r:<role_id>, <entity>, <expires_at_ms>
//
// Every check compares them with the engine's clock: from that instant on, on
// every instance, the assignment no longer counts, before the sweep removes
// it. A cached decision is keyed by the earliest expiry it depends on.

// validLink reports whether a g rule is well formed: three values, or four
// with an expiry.
func validLink(r rolegate.Rule) bool {
	if len(r.Values) == 3 {
		return true
	}
	_, ok := linkExpiry(r)
	return ok
}

// linkExpiry returns the expiry of a g rule that has one.
func linkExpiry(r rolegate.Rule) (int64, bool) {
	if len(r.Values) != 4 {
		return 0, false
	}
	at, err := strconv.ParseInt(r.Values[3], 10, 64)
	return at, err == nil && at > 0
}

func expiryKey(link, role string) string { return link + "\x00" + role }

// clock returns the engine's time in Unix milliseconds (the instant a view
// of a past policy is read at).
func (s *snapshot) clock() int64 {
	if !s.asOf.IsZero() {
		return s.asOf.UnixMilli()
	}
	if s.engine != nil && s.engine.now != nil {
		return s.engine.now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// live returns the roles of a link whose assignment has not expired at now
// (Unix ms); roles itself when none has.
func (s *snapshot) live(link string, roles []string, now int64) []string {
	if s.expiry.len() == 0 {
		return roles
	}
	for i, r := range roles {
		if at, ok := s.expiry.get(expiryKey(link, r)); ok && now >= at {
			out := append([]string(nil), roles[:i]...)
			for _, r := range roles[i+1:] {
				if at, ok := s.expiry.get(expiryKey(link, r)); !ok || now < at {
					out = append(out, r)
				}
			}
			return out
		}
	}
	return roles
}

// epoch returns the earliest expiry still ahead at now among the user's
// assignments (entity-wide, and inside scope), 0 when none: the instant until
// which an answer about the user may be served from the cache.
func (s *snapshot) epoch(user, scope string, now int64) int64 {
	var first int64
	look := func(link string) {
		roles, _ := s.links.get(link)
		for _, r := range roles {
			if at, ok := s.expiry.get(expiryKey(link, r)); ok && now < at && (first == 0 || at < first) {
				first = at
			}
		}
	}
	look(UserSubject(user))
	if scope != "" {
		look(ScopedSubject(scope, user))
	}
	return first
}
