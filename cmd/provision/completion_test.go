package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// completions runs a shell with provision's completion script loaded and
// returns what it offers for a command line. provision is on $PATH (the
// test binary, set up by TestMain); fish's and bash's own files stay in a
// temporary home.
func completions(t *testing.T, shell, line string) []string {
	t.Helper()
	if _, err := exec.LookPath("provision"); err != nil {
		t.Fatalf("provision is not on $PATH: %v", err)
	}
	var cmd *exec.Cmd
	switch shell {
	case "bash":
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		script := `source <(provision completion bash)
COMP_WORDS=(` + strings.Join(quoteAll(words), " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_provision; printf '%s\n' "${COMPREPLY[@]}"`
		cmd = exec.Command("bash", "--noprofile", "--norc", "-c", script)
	case "fish":
		if _, err := exec.LookPath("fish"); err != nil {
			testhost.Skipf(t, "fish is not installed (apt-get install fish; it is in .ci/e2e-deps.txt)")
		}
		cmd = exec.Command("fish", "--no-config", "-c", "provision completion fish | source; complete -C "+shellWord(line))
	}
	home := t.TempDir()
	cmd.Dir = home
	cmd.Env = append(cmd.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home, "XDG_CACHE_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = "'" + w + "'"
	}
	return out
}

// TestCompletionInShells loads the completion scripts into real shells
// and checks what they offer: commands, a command's flags (read from its
// --help), the completion command's shells.
func TestCompletionInShells(t *testing.T) {
	for _, tc := range []struct {
		shell, line string
		want        []string
	}{
		{"bash", "provision va", []string{"validate"}},
		{"bash", "provision sch", []string{"schema"}},
		{"bash", "provision apply --che", []string{"--check"}},
		{"bash", "provision validate --ex", []string{"--extra-vars"}},
		{"bash", "provision help do", []string{"doctor", "doc"}},
		{"bash", "provision completion f", []string{"fish"}},
		{"fish", "provision va", []string{"validate\tReport every problem in the playbooks, without a host"}},
		{"fish", "provision apply --che", []string{"--check\tchange nothing; exit 2 when changes are pending"}},
		{"fish", "provision validate -e", []string{"-e\tcheck the templated arguments these variables decide (key=value, @file.yml or JSON; repeatable)"}},
		{"fish", "provision doctor --inv", []string{"--inventory\tcheck the hosts of this inventory over SSH (repeatable)"}},
		{"fish", "provision completion ", []string{"bash", "fish", "zsh"}},
		{"fish", "provision help sta", []string{"status"}},
	} {
		got := completions(t, tc.shell, tc.line)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s completes %q as %q, want %q", tc.shell, tc.line, got, tc.want)
		}
	}
}

// TestBashCompletionListsEveryCommand keeps the bash script's command
// lists in step with the commands.
func TestBashCompletionListsEveryCommand(t *testing.T) {
	want := `compgen -W "` + strings.Join(commandNames, " ") + `"`
	if n := strings.Count(bashCompletion, want); n != 2 {
		t.Errorf("the bash completion lists the commands as %s %d times, want 2 (commands, help's argument)", want, n)
	}
}
