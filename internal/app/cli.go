package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolegate/rolegate/client"
)

// The admin CLI: rolegate entities|roles|users|clients|check|audit ... talks
// to a running server through the Go client (package client). Its token comes
// from --token, ROLEGATE_TOKEN or --token-file and is never printed.

// cli is what every command shares.
type cli struct {
	ctx    context.Context
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer

	server       string
	token        string
	tokenFile    string
	output       string
	timeout      time.Duration
	insecureHTTP bool
	entity       string

	c *client.Client
}

// newRoot is the command tree: the server's commands (serve.go's wiring,
// configured by serverFlags), the admin CLI's, help and version.
func (x *cli) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "rolegate",
		Short:         "A permission service, and the CLI that manages it",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(x.stdout)
	root.SetErr(x.stderr)
	root.SetContext(x.ctx)
	root.AddCommand(x.serverCmds()...)
	for _, c := range []*cobra.Command{x.entitiesCmd(), x.rolesCmd(), x.usersCmd(), x.clientsCmd(), x.checkCmd(), x.auditCmd(), x.constraintsCmd()} {
		x.clientFlags(c)
		root.AddCommand(c)
	}
	root.AddCommand(x.versionCmd())
	root.SetHelpCommand(x.helpCmd())
	root.InitDefaultHelpCmd() // now, for Find to know it
	markUsageErrors(root)
	return root
}

// clientFlags are the flags of a CLI command that calls the server; it
// connects before the command runs.
func (x *cli) clientFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	// Defaults are resolved after parsing, from the environment: a flag's
	// default is shown by --help, and the token must never be.
	pf.StringVar(&x.server, "server", "", "server URL (default $ROLEGATE_SERVER, else http://localhost:8080)")
	pf.StringVar(&x.token, "token", "", "bearer token (default $ROLEGATE_TOKEN); prefer --token-file or the variable, a flag shows in ps")
	pf.StringVar(&x.tokenFile, "token-file", "", "file holding the bearer token (default $ROLEGATE_TOKEN_FILE)")
	pf.StringVarP(&x.output, "output", "o", "table", "output: table or json")
	pf.DurationVar(&x.timeout, "timeout", 30*time.Second, "how long one command may take")
	pf.BoolVar(&x.insecureHTTP, "insecure-http", false, "send the token over plain http to a server that is not on this machine")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error { return x.connect() }
}

// execute runs the command line args (starting with a command's name) on a
// new tree.
func execute(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	x := &cli{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr}
	root := x.newRoot()
	args = longSingleDash(func(name string) bool { return flagNamed(root, name) }, args)
	root.SetArgs(args)
	// An unknown command is found before anything runs, by Find, whose only
	// error that is (Execute would return the same).
	_, _, err := root.Find(args)
	if err != nil {
		err = usageError{err}
	} else {
		err = root.Execute()
	}
	if err == nil {
		return nil
	}
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintln(stderr, "rolegate:", err)
		return ErrUsage
	}
	if x.c == nil {
		return err // a server command's, or one that never reached the server
	}
	return describe(err)
}

// flagNamed tells whether a command of the tree has a long flag name.
func flagNamed(root *cobra.Command, name string) bool {
	if root.Flags().Lookup(name) != nil || root.PersistentFlags().Lookup(name) != nil {
		return true
	}
	for _, c := range root.Commands() {
		if flagNamed(c, name) {
			return true
		}
	}
	return false
}

// usageError marks an error of the command line (exit 2) rather than of the
// call (exit 1).
type usageError struct{ error }

// markUsageErrors makes cobra's own checks of the command line return
// usageErrors: flags it cannot read, arguments the command does not take,
// required flags missing, an unknown command. Their messages stay cobra's.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(c *cobra.Command, a []string) error {
				if err := args(c, a); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		if c.Runnable() {
			// Cobra checks required flags after the pre-run hooks (the
			// token's, first): so here, in the same order.
			preRun := c.PreRunE
			c.PreRunE = func(c *cobra.Command, a []string) error {
				if preRun != nil {
					if err := preRun(c, a); err != nil {
						return err
					}
				}
				if err := c.ValidateRequiredFlags(); err != nil {
					return usageError{err}
				}
				if err := c.ValidateFlagGroups(); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func (u usageError) Unwrap() error { return u.error }

// describe turns the client's errors into what a person reads.
func describe(err error) error {
	var e *client.Error
	if errors.As(err, &e) {
		msg := fmt.Sprintf("the server answered %d %s: %s", e.Status, e.Code, e.Message)
		msg += describeViolations(e.Violations) // separation_of_duties (cli_constraints.go)
		if e.Status == http.StatusUnauthorized {
			msg += " (check --token, ROLEGATE_TOKEN or --token-file)"
		}
		return errors.New(msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer in time (--timeout)")
	}
	// main prefixes "rolegate:" already.
	return errors.New(strings.TrimPrefix(err.Error(), "rolegate: "))
}

// connect resolves the server and the token and makes the client.
func (x *cli) connect() error {
	if x.output != "table" && x.output != "json" {
		return usageError{fmt.Errorf("--output must be table or json, not %q", x.output)}
	}
	if x.server == "" {
		x.server = x.getenv("ROLEGATE_SERVER")
	}
	if x.server == "" {
		x.server = "http://localhost:8080"
	}
	if x.tokenFile == "" {
		x.tokenFile = x.getenv("ROLEGATE_TOKEN_FILE")
	}
	token := x.token
	if token != "" && x.tokenFile != "" {
		return usageError{errors.New("give --token or --token-file, not both")}
	}
	if x.tokenFile != "" {
		b, err := os.ReadFile(x.tokenFile)
		if err != nil {
			return fmt.Errorf("reading the token file: %w", err)
		}
		token = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	if token == "" {
		token = x.getenv("ROLEGATE_TOKEN")
	}
	if token == "" {
		return usageError{errors.New("no token: set ROLEGATE_TOKEN, --token-file or --token")}
	}
	if err := plainHTTPAllowed(x.server, x.insecureHTTP); err != nil {
		return usageError{err}
	}
	c, err := client.New(x.server, client.WithToken(token), client.WithUserAgent("rolegate-cli"))
	if err != nil {
		// The client's messages never hold the token.
		return usageError{err}
	}
	x.c = c
	return nil
}

// plainHTTPAllowed refuses to send a bearer token in the clear across a
// network: an http:// server must be this machine unless --insecure-http says
// otherwise. Only a loopback address (127.0.0.0/8, ::1) or the exact name
// "localhost" counts: other *.localhost names may be resolved by a DNS
// server to another machine.
func plainHTTPAllowed(server string, insecure bool) error {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" || insecure {
		return nil // other schemes and malformed URLs are the client's to refuse
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to send the token over plain http to %s: use https, or --insecure-http on a network you trust", host)
}

// call gives a command's context its timeout.
func (x *cli) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(x.ctx, x.timeout)
}

// entityOf resolves -e / ROLEGATE_ENTITY.
func (x *cli) entityOf() (string, error) {
	e := x.entity
	if e == "" {
		e = x.getenv("ROLEGATE_ENTITY")
	}
	if e == "" {
		return "", usageError{errors.New("an entity is required: -e ENTITY or ROLEGATE_ENTITY")}
	}
	return e, nil
}

func (x *cli) entityFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVarP(&x.entity, "entity", "e", "", "entity id (default $ROLEGATE_ENTITY)")
}

// emit prints v as JSON with -o json, else the table.
func (x *cli) emit(v any, header []string, rows [][]string) error {
	if x.output == "json" {
		enc := json.NewEncoder(x.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return table(x.stdout, header, rows)
}

// say prints a line for people (nothing with -o json, which prints v).
func (x *cli) say(v any, format string, args ...any) error {
	if x.output == "json" {
		return x.emit(v, nil, nil)
	}
	_, err := fmt.Fprintf(x.stdout, format+"\n", args...)
	return err
}

func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func str(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pageFlags are --limit and --page-token of a list.
func pageFlags(cmd *cobra.Command, o *client.ListOptions) {
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "most rows (1-100; default the server's 100)")
	cmd.Flags().StringVar(&o.PaginationToken, "page-token", "", "the next_pagination_token of a previous page")
}

// inEntity runs fn with the entity (-e / ROLEGATE_ENTITY) and the command's
// context.
func (x *cli) inEntity(fn func(ctx context.Context, ent string, args []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		ent, err := x.entityOf()
		if err != nil {
			return err
		}
		ctx, cancel := x.call()
		defer cancel()
		return fn(ctx, ent, args)
	}
}

// emitPage prints a page of a list, a row per item, and tells people how to
// get the next page.
func emitPage[T any](x *cli, p client.Page[T], header []string, row func(T) []string) error {
	rows := make([][]string, 0, len(p.Data))
	for _, v := range p.Data {
		rows = append(rows, row(v))
	}
	x.nextPage(p.NextPaginationToken)
	return x.emit(p, header, rows)
}

// nextPage tells people how to get the next page.
func (x *cli) nextPage(next *string) {
	if next != nil && x.output != "json" {
		fmt.Fprintf(x.stderr, "more: --page-token %s\n", *next)
	}
}
