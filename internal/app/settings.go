package app

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rolegate/rolegate/adapters"
)

// settings registers the flags of the program, each with its default taken
// from a ROLEGATE_* variable named after the flag (variable): the command
// line wins over the variable, the variable over the built-in default. An
// empty variable is unset.
type settings struct {
	fs     *pflag.FlagSet
	getenv func(string) string
	// envErr is the first boolean variable that is not true or false.
	envErr error
	// checked are the typed settings, in the order their errors are reported.
	checked []interface{ failure() error }
}

// variable names the variable of a flag: --max-entities is
// ROLEGATE_MAX_ENTITIES.
func variable(flagName string) string {
	return "ROLEGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usage is a flag's help with its variable.
func usage(flagName, help string) string { return help + " (" + variable(flagName) + ")" }

func (s *settings) env(flagName string) (string, bool) {
	v := s.getenv(variable(flagName))
	return v, v != ""
}

// str is a setting taken as it is given.
func (s *settings) str(p *string, name, def, help string) {
	if v, ok := s.env(name); ok {
		def = v
	}
	s.fs.StringVar(p, name, def, usage(name, help))
}

// secret is a setting taken as it is given, like str, whose value is never
// shown: --help prints no default for it, so a token or key given by its
// variable does not reach a terminal, a log of the help or a screenshot.
func (s *settings) secret(p *string, name, help string) {
	if v, ok := s.env(name); ok {
		*p = v
	}
	s.fs.Var(secretValue{p}, name, usage(name, help))
}

// secretValue is a pflag.Value that shows nothing of what it holds.
type secretValue struct{ p *string }

func (secretValue) String() string { return "" }
func (secretValue) Type() string   { return "string" }

func (v secretValue) Set(text string) error {
	*v.p = text
	return nil
}

// address is a setting taken as it is given, like str, holding a URL that
// may carry a password: --help shows its default with the password hidden.
func (s *settings) address(p *string, name, def, help string) {
	*p = def
	if v, ok := s.env(name); ok {
		*p = v
	}
	s.fs.Var(addressValue{p}, name, usage(name, help))
}

// addressValue is a pflag.Value that shows its URL without a password.
type addressValue struct{ p *string }

func (addressValue) Type() string { return "url" }

func (v addressValue) String() string {
	if v.p == nil || *v.p == "" {
		return ""
	}
	return adapters.RedactURL(*v.p)
}

func (v addressValue) Set(text string) error {
	*v.p = text
	return nil
}

// boolean is an on/off setting; a variable that is not true or false is
// refused before the flags are read (envErr), naming the variable.
func (s *settings) boolean(p *bool, name string, def bool, help string) {
	if v, ok := s.env(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			if s.envErr == nil {
				s.envErr = fmt.Errorf("%s: %q is not true or false", variable(name), v)
			}
		} else {
			def = b
		}
	}
	s.fs.BoolVar(p, name, def, usage(name, help))
}

// typed registers a setting parsed and checked into *p by parse, whose
// error says what the text is not ("\"x\" is not a positive integer"); the
// setting's name is put before it.
func typed[T any](s *settings, p *T, name string, def T, parse func(string) (T, error), help string) {
	v := &setting[T]{name: name, dst: p, parse: parse, text: show(def)}
	*p = def
	if text, ok := s.env(name); ok {
		_ = v.Set(text)
	}
	s.checked = append(s.checked, v)
	s.fs.Var(v, name, usage(name, help))
}

// show writes a default as it would be given, for --help.
func show(v any) string {
	switch v := v.(type) {
	case []string:
		return strings.Join(v, ",")
	case slog.Level:
		return strings.ToLower(v.String())
	}
	return fmt.Sprint(v)
}

// refused is the error of the first typed setting whose value was refused.
func (s *settings) refused() error {
	for _, v := range s.checked {
		if err := v.failure(); err != nil {
			return err
		}
	}
	return nil
}

// setting is a pflag.Value of type T. A text it refuses is kept as its error
// rather than returned to the flag package: the message stays the program's
// (naming the setting; exit 1, as any refused value, not 2 with the usage),
// and a value given on the command line replaces a refused one from the
// variable.
type setting[T any] struct {
	name  string
	dst   *T
	parse func(string) (T, error)
	text  string
	err   error
}

func (v *setting[T]) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

func (v *setting[T]) Set(text string) error {
	v.text = text
	x, err := v.parse(text)
	if err != nil {
		v.err = fmt.Errorf("%s: %w", v.name, err)
		return nil
	}
	*v.dst, v.err = x, nil
	return nil
}

func (v *setting[T]) failure() error { return v.err }

// Type names the value in --help: the type of T (int, duration, ...).
func (v *setting[T]) Type() string {
	var zero T
	switch any(zero).(type) {
	case time.Duration:
		return "duration"
	case slog.Level:
		return "level"
	case []string:
		return "strings"
	}
	return fmt.Sprintf("%T", zero)
}

// integer parses a decimal integer from min to max.
func integer[T int | int64](min, max T, why string) func(string) (T, error) {
	return func(s string) (T, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < int64(min) || n > int64(max) {
			return 0, fmt.Errorf("%q %s", s, why)
		}
		return T(n), nil
	}
}

// duration parses a duration (time.ParseDuration) from min to max.
func duration(min, max time.Duration, why string) func(string) (time.Duration, error) {
	return func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d < min || d > max {
			return 0, fmt.Errorf("%q %s", s, why)
		}
		return d, nil
	}
}

// rate parses requests per second: a finite number >= 0, 0 unlimited.
func rate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return 0, fmt.Errorf("%q is not a number of requests per second (0 is unlimited)", s)
	}
	return r, nil
}

// positive parses a finite number > 0.
func positive(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || !(r > 0) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("%q is not a positive number", s)
	}
	return r, nil
}

// logLevel parses debug, info, warn or error (slog.Level's text).
func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// oneOf accepts one of the words.
func oneOf(why string, words ...string) func(string) (string, error) {
	return func(s string) (string, error) {
		for _, w := range words {
			if s == w {
				return s, nil
			}
		}
		return "", fmt.Errorf("%q %s", s, why)
	}
}

// singleDash reads a long flag written with one dash (-max-entities, the
// style of the server's flags before they joined the command tree, still in
// scripts and docs) as written with two; shorthands (-e, -o) stay as they are.
// Arguments after "--" are left alone.
func singleDash(fs *pflag.FlagSet, args []string) []string {
	return longSingleDash(func(name string) bool { return fs.Lookup(name) != nil }, args)
}

// longSingleDash is singleDash for the flags known says exist.
func longSingleDash(known func(name string) bool, args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && known(name) {
			out[i] = "-" + a
		}
	}
	return out
}
