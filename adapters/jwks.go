package adapters

import (
	"context"
	"fmt"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// JWKS returns the keys of an identity provider's JSON Web Key Set at url,
// fetched now and every refresh interval, and again (at most every five
// minutes) when a token names a key it does not know. A provider that is
// down at start-up does not stop Rolegate: its tokens fail until the keys
// arrive. The keys live until ctx ends.
func JWKS(ctx context.Context, url string, refresh time.Duration) (jwt.Keyfunc, error) {
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
		RefreshInterval: refresh,
		HTTPTimeout:     5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", url, err)
	}
	return kf.Keyfunc, nil
}
