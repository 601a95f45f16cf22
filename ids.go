package rolegate

import "regexp"

// The syntax of ids, shared by the service and by auth (a token's claims name
// an entity and a user).

var entityIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// MaxUserIDLen is the longest user id.
const MaxUserIDLen = 255

// DotSegment reports whether s is "." or "..": as a path segment a URL
// parser resolves it away (/v1/entities/e/users/.. is /v1/entities/e/), so no
// id may be one.
func DotSegment(s string) bool { return s == "." || s == ".." }

// ValidEntityID reports whether s may be an entity id: 1-64 of A-Za-z0-9._:-,
// not "." or "..".
func ValidEntityID(s string) bool { return entityIDRe.MatchString(s) && !DotSegment(s) }

// ValidUserID reports whether s may be a user id: 1-255 printable ASCII
// characters without spaces (an OpenID Connect subject fits), not "." or
// "..". Any other character, "/" included, is allowed: paths carry it
// escaped (%2F).
func ValidUserID(s string) bool {
	if len(s) == 0 || len(s) > MaxUserIDLen || DotSegment(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
