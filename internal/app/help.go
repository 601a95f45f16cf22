package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// overview is what `rolegate help` and `rolegate --help` print: the
// commands, not the server's flags (`rolegate help serve` lists those).
const overview = `rolegate: a permission service, and the CLI that manages it.

Usage:
  rolegate [command] [flags]

Run the server (each flag also a ROLEGATE_* variable):
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

Flags are --flag (a long flag written -flag is read the same).

Docs: README.md, docs/cli.md, docs/configuration.md, docs/errors.md.
`

// helpCmd is `rolegate help [command]`: the overview, or a command's help
// (its --help).
func (x *cli) helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "help [command]",
		Short:              "The commands, or one command's flags",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return help(x.ctx, args, x.getenv, x.stdout, x.stderr)
		},
	}
}

// help prints the overview, or one command's help; an unknown command is a
// usage error.
func help(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" {
		_, err := io.WriteString(stdout, overview)
		return err
	}
	if args[0] == "version" {
		_, err := fmt.Fprintln(stdout, "rolegate version [-o json]: print the version, commit, build date and Go version.")
		return err
	}
	for _, name := range commandNames() {
		if args[0] == name {
			// The command's help (and a subcommand's: help roles apply).
			return execute(ctx, append(append([]string{}, args...), "--help"), getenv, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "rolegate: no command %q; commands: %s\n", args[0], strings.Join(commandNames(), ", "))
	return ErrUsage
}

func commandNames() []string {
	return []string{"serve", "migrate", "doctor", "keys", "entities", "roles", "users", "clients", "check", "audit", "version", "help"}
}
