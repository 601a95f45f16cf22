// Package systemtest runs the real rolegate program and talks to it as its
// users do: the Go client, HTTP, gRPC.
package systemtest

import (
	"testing"

	"github.com/rolegate/rolegate/internal/testkit"
)

// TestMain removes the binary testkit built.
func TestMain(m *testing.M) { testkit.Main(m) }
