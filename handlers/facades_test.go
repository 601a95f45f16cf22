package handlers

import "testing"

// Which API a path belongs to is decided by its prefix alone, for request
// paths and route patterns alike.
func TestAPIOf(t *testing.T) {
	for path, want := range map[string]apiKind{
		"/v1/check":                          kindNative,
		"/v1/entities/acme/roles":            kindNative,
		"/v1/rolesx":                         kindNative,
		"/v1/auth/token":                     kindNative,
		"/v1/accounts/T123/management/roles": kindDintero,
		"/v1/accounts/:oid/auth/token":       kindDintero,
		"/v1/roles":                          kindMonite,
		"/v1/roles/:id":                      kindMonite,
		"/api/v1/roles":                      kindPapershift,
		"/apix":                              kindNative,
	} {
		if got := apiOf(path); got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
}
