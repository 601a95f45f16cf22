// Command rolegate runs the Rolegate permission service and the CLI that
// manages it (internal/app: the commands, rolegate help lists them).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rolegate/rolegate/internal/app"
)

// Set at build time by the release recipe (scripts/release.sh, Dockerfile):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=abc123 -X main.date=2026-12-05T16:00:00Z"
var (
	version string
	commit  string
	date    string
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app.Version, app.Commit, app.Date = version, commit, date
	if err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rolegate:", err)
		if errors.Is(err, app.ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
