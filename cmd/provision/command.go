package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/pflag"
)

// cmdFlags is one command's flag set, parsed GNU style (pflag): long
// options with two dashes, combinable short ones, flags before or after
// the arguments. Every command has -h/--help and --version.
type cmdFlags struct {
	*pflag.FlagSet
	name, args, summary string
	help, version       bool
}

// newFlags returns the flag set of `provision name`, whose arguments are
// described by args (e.g. "PLAYBOOK") and whose purpose by summary.
func newFlags(name, args, summary string) *cmdFlags {
	c := &cmdFlags{FlagSet: pflag.NewFlagSet(name, pflag.ContinueOnError), name: name, args: args, summary: summary}
	c.SetOutput(io.Discard)
	c.Usage = func() {}
	c.SortFlags = false
	c.BoolVarP(&c.help, "help", "h", false, "print this help and exit")
	c.BoolVar(&c.version, "version", false, "print the version and exit")
	return c
}

// parse parses args. When the command is to go on it returns the
// positional arguments and ok; otherwise it has printed the help, the
// version or a usage error, and code is the exit code.
func (c *cmdFlags) parse(e *env, args []string) (pos []string, code int, ok bool) {
	err := c.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp) || (err == nil && c.help):
		c.printHelp(e.stdout)
		return nil, exitOK, false
	case err != nil:
		return nil, e.usageErr(c.name, flagErr(err)), false
	case c.version:
		fmt.Fprintln(e.stdout, versionLine())
		fmt.Fprintln(e.stdout, cfgVersionLine())
		return nil, exitOK, false
	}
	return c.Args(), 0, true
}

// parseNone is parse for a command that takes no arguments: one given
// is a usage error, followed by hint (" (the playbook goes after
// --playbook)") when there is one.
func (c *cmdFlags) parseNone(e *env, args []string, hint string) (code int, ok bool) {
	pos, code, ok := c.parse(e, args)
	if ok && len(pos) > 0 {
		return e.usageErr(c.name, fmt.Sprintf("takes no arguments, found %q%s", pos, hint)), false
	}
	return code, ok
}

// fail prints err as provision's one-line error and returns the exit
// code for it.
func (e *env) fail(err error) int {
	fmt.Fprintf(e.stderr, "provision: %v\n", err)
	return exitFailed
}

// flagErr words a flag error: an invalid value names the flag as
// "-l/--limit" (or "--image") and gives the reason.
func flagErr(err error) string {
	var inv *pflag.InvalidValueError
	if !errors.As(err, &inv) {
		return err.Error()
	}
	f := inv.GetFlag()
	name := "--" + f.Name
	if f.Shorthand != "" {
		name = "-" + f.Shorthand + "/" + name
	}
	return fmt.Sprintf("invalid value %q for flag %s: %v", inv.GetValue(), name, errors.Unwrap(inv))
}

// printHelp prints the command's help: usage line, summary, flags.
func (c *cmdFlags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: provision %s [flags]", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s\n\nflags:\n%s", c.summary, c.FlagUsages())
}

// usageErr prints a usage error, one line and a pointer to the help, and
// returns the exit code for it.
func (e *env) usageErr(cmd, msg string) int {
	fmt.Fprintf(e.stderr, "provision %s: %s\nRun 'provision %s --help' for usage.\n", cmd, msg, cmd)
	return exitFailed
}

// versionLine describes this build: the version (set with -ldflags "-X
// main.version=..." or the module's), the Go version, and the VCS
// revision the binary was built from when Go recorded it.
func versionLine() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if v == "dev" && ok && info.Main.Version != "" {
		v = info.Main.Version
	}
	s := "provision " + v + " " + runtime.Version()
	if !ok {
		return s
	}
	for _, kv := range []struct{ key, label string }{
		{"vcs", "vcs"}, {"vcs.revision", "rev"}, {"vcs.time", "time"}, {"vcs.modified", "modified"},
	} {
		for _, set := range info.Settings {
			if set.Key == kv.key {
				s += " " + kv.label + "=" + set.Value
			}
		}
	}
	return s
}
