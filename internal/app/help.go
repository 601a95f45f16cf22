package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// overview is what `rolegate help` and `rolegate --help` print: the
// commands, not the server's flags (`rolegate help serve` lists those).
const overview = `rolegate: a permission service, and the CLI that manages it.

Usage:
  rolegate [command] [flags]

Run the server (flags in single-dash style, each also a ROLEGATE_* variable):
  serve         serve the API and the console (the default command)
  migrate       apply the schema migrations and exit
  doctor        check that the stored rules match the roles (--fix repairs them)
  keys          rotate or list the token signing keys (keys rotate|list)

Manage a running server (ROLEGATE_SERVER, ROLEGATE_TOKEN; docs/cli.md):
  entities      list, show, create and delete entities (tenants)
  roles         manage the roles of an entity; apply them from a file
  users         manage the users of an entity and their roles
  clients       manage API clients
  check         ask whether a user may do an action
  audit         an entity's audit log

Other:
  version       print the version, commit, build date and Go version (also --version)
  help          this text; "rolegate help COMMAND" for a command's flags

Docs: README.md, docs/cli.md, docs/configuration.md, docs/errors.md.
`

// serverCommands are the commands configured by loadConfig's flags.
var serverCommands = map[string]string{
	"serve":   "rolegate serve [flags]: serve the API and the console.",
	"migrate": "rolegate migrate [flags]: apply the schema migrations and exit.",
	"doctor":  "rolegate doctor [-fix] [flags]: check that the stored rules match the roles, users and assignments (exit 1 when not).",
	"keys":    "rolegate keys rotate|list [flags]: make a new token signing key, or list them.",
}

// help prints the overview, or one command's help; an unknown command is a
// usage error.
func help(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		_, err := io.WriteString(stdout, overview)
		return err
	}
	cmd := args[0]
	switch {
	case cmd == "version":
		_, err := fmt.Fprintln(stdout, "rolegate version [-o json]: print the version, commit, build date and Go version.")
		return err
	case cmd == "help":
		_, err := io.WriteString(stdout, overview)
		return err
	case cliCommands[cmd]:
		// Cobra's help of the command (and of a subcommand: help roles apply).
		return runCLI(ctx, append(append([]string{}, args...), "--help"), getenv, stdout, stderr)
	case serverCommands[cmd] != "":
		fmt.Fprintf(stdout, "%s\n\nEvery flag is also a ROLEGATE_* variable (docs/configuration.md); a flag given wins.\n\nFlags:\n", serverCommands[cmd])
		// loadConfig prints its flags and answers -help with errUsage.
		if _, err := loadConfig(cmd, []string{"-help"}, getenv, stdout); err != nil && !errors.Is(err, errUsage) {
			return err
		}
		return nil
	}
	fmt.Fprintf(stderr, "rolegate: no command %q; commands: %s\n", cmd, strings.Join(commandNames(), ", "))
	return errUsage
}

func commandNames() []string {
	return []string{"serve", "migrate", "doctor", "keys", "entities", "roles", "users", "clients", "check", "audit", "version", "help"}
}
