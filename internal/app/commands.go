package app

import (
	"fmt"

	"github.com/spf13/cobra"
)

// serverCmds are the commands configured by the server's settings
// (serverFlags): each flag also a ROLEGATE_* variable.
func (x *cli) serverCmds() []*cobra.Command {
	serve := x.serverCmd("serve", "Serve the API and the console (the default command)",
		"rolegate serve [flags]: serve the API and the console.",
		func(cfg Config) error { return serve(x.ctx, cfg, x.stdout, x.stderr) })
	migrate := x.serverCmd("migrate", "Apply the schema migrations and exit",
		"rolegate migrate [flags]: apply the schema migrations and exit.",
		func(cfg Config) error { return migrate(x.ctx, cfg, x.stdout) })
	doctor := x.serverCmd("doctor", "Check that the stored rules match the roles (--fix repairs them)",
		"rolegate doctor [--fix] [flags]: check that the stored rules match the roles, users and assignments (exit 1 when not).",
		func(cfg Config) error { return doctor(x.ctx, cfg, x.stdout) })
	keysCmd := &cobra.Command{
		Use:   "keys rotate|list",
		Short: "Rotate or list the token signing keys",
		Long:  "rolegate keys rotate|list [flags]: make a new token signing key, or list them.",
		// Without rotate or list: the usage line, exit 2.
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(x.stderr, "usage: rolegate keys rotate|list [flags]")
			return ErrUsage
		},
	}
	for _, sub := range []string{"rotate", "list"} {
		keysCmd.AddCommand(x.serverCmd(sub, map[string]string{"rotate": "Make a new signing key; the previous one verifies its tokens until they expire",
			"list": "List the signing keys"}[sub],
			"rolegate keys "+sub+" [flags]: "+map[string]string{"rotate": "make a new token signing key.", "list": "list the token signing keys."}[sub],
			func(cfg Config) error { return keys(x.ctx, cfg, sub, x.stdout) }))
	}
	return []*cobra.Command{serve, migrate, doctor, keysCmd}
}

// serverCmd is a command of the server's settings (serverFlags) that runs
// do with them.
func (x *cli) serverCmd(name, short, long string, do func(Config) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name + " [flags]",
		Short: short,
		Long:  long + "\n\nEvery flag is also a ROLEGATE_* variable (docs/configuration.md); a flag given wins.",
		Args:  cobra.NoArgs,
	}
	cfg, f := serverFlags(cmd.Flags(), name, x.getenv, x.stderr)
	cmd.RunE = func(*cobra.Command, []string) error {
		if err := cfg.finish(f, x.getenv, x.stderr); err != nil {
			return err
		}
		return do(*cfg)
	}
	return cmd
}
