// Command rolegate runs the Rolegate permission service.
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
// Every flag has a ROLEGATE_* variable; a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rolegate:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version":
			return printVersion(stdout, args[1:])
		case "help", "--help", "-help", "-h":
			return help(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cliCommands[cmd] {
		return runCLI(ctx, append([]string{cmd}, args...), getenv, stdout, stderr)
	}
	sub := ""
	if cmd == "keys" {
		if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
			fmt.Fprintln(stderr, "usage: rolegate keys rotate|list [flags]")
			return errUsage
		}
		sub, args = args[0], args[1:]
	}
	cfg, err := loadConfig(cmd, args, getenv, stderr)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, stdout, stderr)
	case "migrate":
		return migrate(ctx, cfg, stdout)
	case "doctor":
		return doctor(ctx, cfg, stdout)
	case "keys":
		return keys(ctx, cfg, sub, stdout)
	}
	fmt.Fprintf(stderr, "unknown command %q; commands: serve, migrate, doctor, keys, version, help, entities, roles, users, clients, check, audit (rolegate help)\n", cmd)
	return errUsage
}
