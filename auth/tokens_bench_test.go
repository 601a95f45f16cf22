package auth_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAuthenticateKnownClient is the cost of authenticating a known
// client's token sent again (verified once; then the client's record, its
// entity's incarnation and the key from memory): no database access, no
// signature check.
//
//	go test ./auth -run x -bench AuthenticateKnownClient -benchtime 20000x
func BenchmarkAuthenticateKnownClient(b *testing.B) {
	tokens, id, secret := tokenFixture(b, time.Now)
	tok, _, err := tokens.Issue(context.Background(), id, secret, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tokens.Authenticate(tok); err != nil {
			b.Fatal(err)
		}
	}
}
