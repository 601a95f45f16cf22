// Package app is the rolegate program: one command tree (cobra) of the
// server's commands, the admin CLI's, help and version, with their settings
// and the server's wiring. cmd/rolegate only gives it the process:
//
//	rolegate [serve] [flags]   serve the API (the default)
//	rolegate migrate [flags]   apply the schema migrations and exit
//	rolegate doctor [--fix]    check that the stored rules match the roles,
//	                           users and assignments (exit 1 when not);
//	                           --fix repairs them
//	rolegate keys rotate       make a new token signing key; the old one
//	                           verifies until its tokens have expired
//	rolegate keys list         list the signing keys
//	rolegate version           version, commit, build date, Go version
//	rolegate help [command]    the commands, or one command's flags
//
// and, against a running server (cli*.go, docs/cli.md):
//
//	rolegate entities|roles|users|clients|check|audit ...
//
// Flags are --flag; a long flag written -flag is read the same. Every flag
// of the server's commands has a ROLEGATE_* variable; a flag given wins.
package app

import (
	"context"
	"errors"
	"io"
	"strings"
)

// ErrUsage marks a command line the program cannot run: main exits 2.
var ErrUsage = errors.New("usage")

// Run is the whole program: main only adds the process around it.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "--version", "-version":
			args = append([]string{"version"}, args[1:]...)
		case "--help", "-help", "-h":
			args = append([]string{"help"}, args[1:]...)
		}
	}
	// No command, or flags first: serve (`rolegate` alone serves with
	// SQLite in ./rolegate.db).
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"serve"}, args...)
	}
	return execute(ctx, args, getenv, stdout, stderr)
}
