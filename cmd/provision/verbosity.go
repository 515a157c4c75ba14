package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/provision-tool/provision/report"
)

// The detail -v adds, level by level (docs/cli.md). JSON output carries
// every field whatever the level.
const (
	// levelVerbose (-v): the changes of every task, ok ones too, their
	// messages, and debug logs (why a command was not run, ...).
	levelVerbose = 1
	// levelTaskPath (-vv): also each result's task path, the task's
	// file:line:col and module.
	levelTaskPath = 2
	// levelSSH (-vvv): also each ssh command line of a fleet run, on
	// stderr, before it starts.
	levelSSH = 3
)

const verboseHelp = "more detail, repeatable: -v every task's changes and debug logs, -vv also each task's file:line:col and module, -vvv also the ssh command lines"

// sshTrace returns the ssh command line printer of -vvv, nil below.
func (e *env) sshTrace(verbose int) func(host string, argv []string) {
	if verbose < levelSSH {
		return nil
	}
	return func(host string, argv []string) {
		// The remote command is the agent's bootstrap script: its size
		// only, not its lines.
		remote := ""
		if i := slices.Index(argv, "--"); i >= 0 && len(argv) > i+2 {
			remote = fmt.Sprintf(" (and the agent's bootstrap, %d bytes)", len(strings.Join(argv[i+2:], " ")))
			argv = argv[:i+2]
		}
		quoted := make([]string, len(argv))
		for i, a := range argv {
			quoted[i] = shellWord(a)
		}
		fmt.Fprintf(e.stderr, "provision: %s: %s%s\n", report.Escape(host, false), report.Escape(strings.Join(quoted, " "), false), remote)
	}
}

// shellWord quotes a word as a POSIX shell would need it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@,%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
