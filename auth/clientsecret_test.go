package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
)

func TestWellFormedClientID(t *testing.T) {
	id := uuid.NewString()
	if !auth.WellFormedClientID(id) {
		t.Fatalf("%q refused", id)
	}
	for _, bad := range []string{"", "nope", strings.ToUpper(id), id + " ", " " + id[1:], id[:35] + "g",
		strings.ReplaceAll(id, "-", "x"), id + id, strings.Repeat("a", 36), "{" + id[1:35] + "}"} {
		if auth.WellFormedClientID(bad) {
			t.Errorf("%q taken for a client id", bad)
		}
	}
}

// Issue asks the context's SecretGate before every bcrypt comparison (an
// unknown client's dummy one included) and tells it the outcome; ids and
// secrets that cannot be valid cost neither; a secret verified before costs
// no bcrypt and does not ask the gate, until the client is deleted.
func TestSecretGateAndVerifiedSecrets(t *testing.T) {
	ctx := auth.Internal(context.Background())
	svc, store := testkit.Service(t)
	admin, _, err := auth.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []bool // true: the attempt succeeded
	gated := auth.WithSecretGate(ctx, func() (func(bool), error) {
		return func(failed bool) { outcomes = append(outcomes, !failed) }, nil
	})
	step := func(name, id, secret string, wantOK bool, wantOutcomes []bool, wantChecks uint64) {
		t.Helper()
		_, _, err := tokens.Issue(gated, id, secret, "")
		if (err == nil) != wantOK || (err != nil && !rolegate.IsKind(err, rolegate.KindUnauthenticated)) {
			t.Fatalf("%s: %v, want ok=%v", name, err, wantOK)
		}
		if len(outcomes) != len(wantOutcomes) || tokens.SecretChecks() != wantChecks {
			t.Fatalf("%s: gate told %v, want %v; %d bcrypt comparisons, want %d", name, outcomes, wantOutcomes, tokens.SecretChecks(), wantChecks)
		}
		for i := range outcomes {
			if outcomes[i] != wantOutcomes[i] {
				t.Fatalf("%s: gate told %v, want %v", name, outcomes, wantOutcomes)
			}
		}
	}
	step("malformed id", "nope", secret, false, nil, 0)
	step("real id in upper case", strings.ToUpper(c.ID), secret, false, nil, 0)
	step("secret over 72 bytes", c.ID, secret+strings.Repeat("x", 73-len(secret)), false, nil, 0)
	step("unknown id", uuid.NewString(), secret, false, []bool{false}, 1)
	step("wrong secret", c.ID, "rgs_wrong", false, []bool{false, false}, 2)
	step("right secret", c.ID, secret, true, []bool{false, false, true}, 3)
	step("right secret again", c.ID, secret, true, []bool{false, false, true}, 3)
	step("wrong secret again", c.ID, "rgs_wrong", false, []bool{false, false, true, false}, 4)

	// A refusal of the gate is returned as it is, and nothing is compared.
	refused := errors.New("throttled")
	_, _, err = tokens.Issue(auth.WithSecretGate(ctx, func() (func(bool), error) { return nil, refused }), c.ID, "rgs_wrong", "")
	if !errors.Is(err, refused) || tokens.SecretChecks() != 4 {
		t.Fatalf("gate refusal: %v, %d comparisons", err, tokens.SecretChecks())
	}

	if err := svc.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	step("right secret of a deleted client", c.ID, secret, false, []bool{false, false, true, false, false}, 5)
}
