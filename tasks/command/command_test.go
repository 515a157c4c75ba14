package command

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

func TestSplitWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"echo hello  world", []string{"echo", "hello", "world"}},
		{"  \techo\n", []string{"echo"}},
		{`echo 'a b' "c d"`, []string{"echo", "a b", "c d"}},
		{`echo a\ b`, []string{"echo", "a b"}},
		{`echo "a\"b" 'it'\''s'`, []string{"echo", `a"b`, "it's"}},
		{`echo "" ''`, []string{"echo", "", ""}},
		{`printf '%s\n' x`, []string{"printf", `%s\n`, "x"}},
		{`echo "back\slash \\ \$HOME \` + "`" + `"`, []string{"echo", `back\slash \ $HOME ` + "`"}},
		{"echo a\\\nb", []string{"echo", "ab"}},
		{"echo \"a\\\nb\"", []string{"echo", "ab"}},
		{`echo '$HOME' '|' ';' '&&' '>' 'x#y'`, []string{"echo", "$HOME", "|", ";", "&&", ">", "x#y"}},
		{`grep -q a#b /etc/x`, []string{"grep", "-q", "a#b", "/etc/x"}},
		{`echo \$HOME \| \; \>`, []string{"echo", "$HOME", "|", ";", ">"}},
		{`ls *.txt ~/x`, []string{"ls", "*.txt", "~/x"}},
		{`a'b'"c"d`, []string{"abcd"}},
		{"", nil},
	}
	for _, tc := range cases {
		got, err := splitWords(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSplitWordsRejects(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ls | wc -l", `unquoted "|" is shell syntax, and commands run without a shell: use the shell module`},
		{"a; b", `unquoted ";"`},
		{"a && b", `unquoted "&&"`},
		{"sleep 1 &", `unquoted "&"`},
		{"echo x > /tmp/f", `unquoted ">"`},
		{"echo x >> /tmp/f", `unquoted ">>"`},
		{"cat < /etc/passwd", `unquoted "<"`},
		{"(cd /)", `unquoted "("`},
		{"echo $(id -u)", `"$(" would be expanded by a shell`},
		{"echo `id -u`", "\"`\" would be expanded"},
		{"echo $HOME", `"$" would be expanded`},
		{`echo "$HOME"`, `"$" would be expanded`},
		{`echo "$(id)"`, `"$(" would be expanded`},
		{"echo hi # comment", "# would start a comment"},
		{"echo 'unterminated", "unterminated single quote"},
		{`echo "unterminated`, "unterminated double quote"},
		{`echo \`, "trailing backslash"},
	}
	for _, tc := range cases {
		_, err := splitWords(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("splitWords(%q): err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestQuoteArgvRoundTrips(t *testing.T) {
	for _, argv := range [][]string{
		{"echo", "plain", "/a/b-c_d.e", "k=v", "x:y,z"},
		{"echo", "a b", "it's", "", "$HOME", "a|b", "#x", `back\slash`, "tab\there", "line\nbreak"},
	} {
		line := quoteArgv(argv)
		back, err := splitWords(line)
		if err != nil || !reflect.DeepEqual(back, argv) {
			t.Errorf("quoteArgv(%q) = %s, splits back to %q, %v", argv, line, back, err)
		}
	}
	if got := quoteArgv([]string{"echo", "a b"}); got != "echo 'a b'" {
		t.Errorf("quoteArgv = %s", got)
	}
}

// checkOnly runs Check and fails the test when Check changed any file.
func checkOnly(t *testing.T, sys *tasks.System, task tasks.Task) (tasks.Plan, error) {
	t.Helper()
	before := taskstest.Snapshot(t, sys)
	p, err := task.Check(context.Background(), sys)
	if after := taskstest.Snapshot(t, sys); !reflect.DeepEqual(before, after) {
		t.Errorf("check changed the host:\nbefore %v\nafter  %v", before, after)
	}
	return p, err
}

func runs(desc string) []tasks.Change {
	return []tasks.Change{{Field: "command", Before: "", After: "run: " + desc}}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name       string
		files      []string // existing host files
		probe      int      // exit status of the unless probe
		task       tasks.Task
		want       []tasks.Change
		probes     []string // commands run during Check
		imperative bool
	}{{
		name:       "bare argv runs every time",
		task:       &Command{Argv: []string{"/usr/bin/app", "--flag", "two words"}},
		want:       runs("/usr/bin/app --flag 'two words'"),
		imperative: true,
	}, {
		name:       "cmd is split",
		task:       &Command{Cmd: `systemctl restart "my unit"`},
		want:       runs("systemctl restart 'my unit'"),
		imperative: true,
	}, {
		name:  "creates exists",
		task:  &Command{Cmd: "app-init", Creates: "/var/lib/app/ok"},
		files: []string{"/var/lib/app/ok"},
	}, {
		name: "creates missing",
		task: &Command{Cmd: "app-init", Creates: "/var/lib/app/ok"},
		want: runs("app-init"),
	}, {
		name: "removes missing",
		task: &Command{Cmd: "rm-old", Removes: "/var/lib/old"},
	}, {
		name:  "removes exists",
		task:  &Command{Cmd: "rm-old", Removes: "/var/lib/old"},
		files: []string{"/var/lib/old"},
		want:  runs("rm-old"),
	}, {
		name:   "unless probe succeeds",
		task:   &Command{Cmd: "podman network create appnet", Unless: []string{"podman network exists appnet"}},
		probes: []string{"podman network exists appnet"},
	}, {
		name:   "unless probe fails",
		task:   &Command{Cmd: "podman network create appnet", Unless: []string{"podman network exists appnet"}},
		probe:  1,
		probes: []string{"podman network exists appnet"},
		want:   runs("podman network create appnet"),
	}, {
		name:   "unless as argv",
		task:   &Command{Argv: []string{"x"}, Unless: []string{"test", "-e", "/a b"}},
		probe:  1,
		probes: []string{"test -e /a b"},
		want:   runs("x"),
	}, {
		name:  "creates decides before the probe runs",
		task:  &Command{Cmd: "x", Creates: "/done", Unless: []string{"probe"}},
		files: []string{"/done"},
	}, {
		name:       "shell",
		task:       &Shell{Cmd: "ls /etc | wc -l > /tmp/n"},
		want:       runs("/bin/sh -c 'ls /etc | wc -l > /tmp/n'"),
		imperative: true,
	}, {
		name:   "shell unless string runs with sh",
		task:   &Shell{Cmd: "echo 10 > /f", Unless: []string{`grep -qx 10 /f`}},
		probe:  1,
		probes: []string{"/bin/sh -c grep -qx 10 /f"},
		want:   runs("/bin/sh -c 'echo 10 > /f'"),
	}, {
		name:   "shell unless list is an argv",
		task:   &Shell{Cmd: "x", Unless: []string{"grep", "-qx", "10", "/f"}},
		probes: []string{"grep -qx 10 /f"},
	}, {
		name:  "shell creates",
		task:  &Shell{Cmd: "x", Creates: "/f"},
		files: []string{"/f"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sys, fr := taskstest.New(t)
			for _, f := range tc.files {
				taskstest.WriteFile(t, sys, f, "")
			}
			fr.On("", func(c tasks.Cmd) tasks.Result { return tasks.Result{ExitCode: tc.probe} })
			p, err := checkOnly(t, sys, tc.task)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Changes, tc.want) {
				t.Errorf("plan %#v, want %#v", p.Changes, tc.want)
			}
			if got := fr.Commands(); !reflect.DeepEqual(got, append([]string{}, tc.probes...)) {
				t.Errorf("check ran %q, want %q", got, tc.probes)
			}
			if got := tc.task.(tasks.Imperative).Imperative(); got != tc.imperative {
				t.Errorf("Imperative() = %v, want %v", got, tc.imperative)
			}
		})
	}
}

func TestApplyRunsWhatCheckPlanned(t *testing.T) {
	sys, fr := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/srv/.keep", "")
	fr.Reply("/usr/bin/app", "line 1\nline 2\n", 0)
	task := &Command{
		Argv:  []string{"/usr/bin/app", "a b"},
		Chdir: "/srv",
		Stdin: "input\n",
		Env:   map[string]string{"B": "2", "A": "1"},
	}
	p, err := task.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.Calls) != 0 {
		t.Fatalf("check ran %q", fr.Commands())
	}
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	want := tasks.Cmd{Argv: []string{"/usr/bin/app", "a b"}, Dir: "/srv", Env: []string{"A=1", "B=2"}, Stdin: []byte("input\n")}
	if len(fr.Calls) != 1 || !reflect.DeepEqual(fr.Calls[0], want) {
		t.Fatalf("ran %#v, want %#v", fr.Calls, want)
	}
	out := task.Output()
	wantOut := map[string]any{"stdout": "line 1\nline 2", "stderr": "", "stdout_lines": []string{"line 1", "line 2"}, "rc": 0}
	if !reflect.DeepEqual(out, wantOut) {
		t.Errorf("output %#v, want %#v", out, wantOut)
	}
}

func TestProbeGetsChdirAndEnvButNoStdin(t *testing.T) {
	sys, fr := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/srv/.keep", "")
	fr.Reply("probe", "", 0)
	task := &Command{Cmd: "x", Unless: []string{"probe"}, Chdir: "/srv", Stdin: "in", Env: map[string]string{"K": "v"}}
	if _, err := task.Check(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	want := tasks.Cmd{Argv: []string{"probe"}, Dir: "/srv", Env: []string{"K=v"}}
	if len(fr.Calls) != 1 || !reflect.DeepEqual(fr.Calls[0], want) {
		t.Fatalf("probe %#v, want %#v", fr.Calls, want)
	}
}

// TestMissingChdir: in check mode an earlier task may only have planned
// the directory, so Check plans the run with a warning instead of failing
// (and does not run the probe, which would run there).
func TestMissingChdir(t *testing.T) {
	sys, fr := taskstest.New(t)
	p, err := checkOnly(t, sys, &Shell{Cmd: "make", Chdir: "/srv/app", Unless: []string{"test -e out"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Changes, runs("/bin/sh -c make")) || len(fr.Calls) != 0 {
		t.Fatalf("plan %#v, ran %q", p.Changes, fr.Commands())
	}
	want := []string{
		"chdir /srv/app is not a directory (yet): applying fails unless an earlier task creates it",
		"the unless probe was not run, since it runs in chdir",
	}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("warnings %q", p.Warnings)
	}
	// creates still decides first.
	taskstest.WriteFile(t, sys, "/out", "")
	p, _ = (&Command{Cmd: "make", Chdir: "/srv/app", Creates: "/out"}).Check(context.Background(), sys)
	if !p.Empty() {
		t.Errorf("creates ignored: %s", p)
	}
}

func TestApplyFailure(t *testing.T) {
	sys, fr := taskstest.New(t)
	fr.On("/bin/sh", func(tasks.Cmd) tasks.Result {
		return tasks.Result{Stdout: "partial\n", Stderr: "sh: 1: nope: not found\n", ExitCode: 127}
	})
	task := &Shell{Cmd: "nope"}
	p, err := task.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	err = task.Apply(context.Background(), sys, p)
	var ee *tasks.ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "exit status 127: sh: 1: nope: not found") {
		t.Fatalf("err = %v, want the exit status and stderr", err)
	}
	out := task.Output()
	if out["rc"] != 127 || out["stdout"] != "partial" || out["stderr"] != "sh: 1: nope: not found" {
		t.Errorf("output %#v", out)
	}
}

func TestProbeCannotStart(t *testing.T) {
	sys, fr := taskstest.New(t)
	fr.Fail("missing-probe", errors.New(`exec: "missing-probe": executable file not found in $PATH`))
	_, err := (&Command{Cmd: "x", Unless: []string{"missing-probe"}}).Check(context.Background(), sys)
	if err == nil || !strings.Contains(err.Error(), "unless missing-probe:") {
		t.Fatalf("err = %v", err)
	}
}

func TestOutputBeforeApply(t *testing.T) {
	out := (&Command{Cmd: "x"}).Output()
	if out["rc"] != 0 || out["stdout"] != "" {
		t.Errorf("output %#v", out)
	}
}

func TestApplyWithoutPlanData(t *testing.T) {
	sys, fr := taskstest.New(t)
	err := (&Command{Cmd: "x"}).Apply(context.Background(), sys, tasks.Plan{Changes: runs("x")})
	if err == nil || len(fr.Calls) != 0 {
		t.Fatalf("apply ran a plan Check did not make: %v %q", err, fr.Commands())
	}
}

// TestConverge shows the engine's verification at work: with creates,
// removes or unless, a command that does its job converges.
func TestConverge(t *testing.T) {
	t.Run("creates", func(t *testing.T) {
		sys, fr := taskstest.New(t)
		fr.On("app-init", func(tasks.Cmd) tasks.Result {
			taskstest.WriteFile(t, sys, "/var/lib/app/ok", "")
			return tasks.Result{}
		})
		p := taskstest.Converge(t, sys, &Command{Cmd: "app-init", Creates: "/var/lib/app/ok"})
		if !reflect.DeepEqual(p.Changes, runs("app-init")) {
			t.Errorf("plan %#v", p.Changes)
		}
	})
	t.Run("removes", func(t *testing.T) {
		sys, fr := taskstest.New(t)
		taskstest.WriteFile(t, sys, "/var/lib/old", "x")
		fr.On("/bin/sh -c cleanup", func(tasks.Cmd) tasks.Result {
			os.Remove(sys.MustPath("/var/lib/old"))
			return tasks.Result{}
		})
		taskstest.Converge(t, sys, &Shell{Cmd: "cleanup", Removes: "/var/lib/old"})
	})
	t.Run("unless", func(t *testing.T) {
		sys, fr := taskstest.New(t)
		exists := 1
		fr.On("podman network exists", func(tasks.Cmd) tasks.Result { return tasks.Result{ExitCode: exists} })
		fr.On("podman network create", func(tasks.Cmd) tasks.Result { exists = 0; return tasks.Result{} })
		taskstest.Converge(t, sys, &Command{Cmd: "podman network create appnet", Unless: []string{"podman network exists appnet"}})
		want := []string{"podman network exists appnet", "podman network create appnet", "podman network exists appnet"}
		if got := fr.Commands(); !reflect.DeepEqual(got, want) {
			t.Errorf("ran %q, want %q", got, want)
		}
	})
}

// TestDishonestCommandIsCaught: a command with creates that does not create
// the path leaves a non-empty second plan, which the engine reports as not
// converged, since Imperative is false.
func TestDishonestCommandIsCaught(t *testing.T) {
	sys, fr := taskstest.New(t)
	fr.Reply("app-init", "", 0)
	task := &Command{Cmd: "app-init", Creates: "/var/lib/app/ok"}
	ctx := context.Background()
	p, _ := task.Check(ctx, sys)
	if err := task.Apply(ctx, sys, p); err != nil {
		t.Fatal(err)
	}
	again, _ := task.Check(ctx, sys)
	if again.Empty() || task.Imperative() {
		t.Fatal("a command that did not create its path looks converged")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		task    tasks.Validator
		arg     string
		contain string
	}{
		{&Command{Argv: []string{"true"}}, "", ""},
		{&Command{Cmd: "true", Creates: "/x", Env: map[string]string{"A": "b=c"}}, "", ""},
		{&Command{}, "argv", "is required (or give cmd)"},
		{&Command{Argv: []string{"a"}, Cmd: "a"}, "cmd", "not both"},
		{&Command{Argv: []string{""}}, "argv", "names no program"},
		{&Command{Argv: []string{"-rf"}}, "argv", "must not start with '-'"},
		{&Command{Cmd: "   "}, "cmd", "names no program"},
		{&Command{Cmd: "ls | wc"}, "cmd", "use the shell module"},
		{&Command{Cmd: "x", Unless: []string{"a && b"}}, "unless", "use the shell module"},
		{&Command{Cmd: "x", Unless: []string{"-x", "y"}}, "unless", "must not start with '-'"},
		{&Command{Cmd: "x", Chdir: "tmp"}, "chdir", "must be an absolute path"},
		{&Command{Cmd: "x", Creates: "f"}, "creates", "must be an absolute path"},
		{&Command{Cmd: "x", Removes: "f"}, "removes", "must be an absolute path"},
		{&Command{Cmd: "x", Env: map[string]string{"A=B": "c"}}, "env", `bad variable name "A=B"`},
		{&Shell{Cmd: "a | b"}, "", ""},
		{&Shell{}, "cmd", "is required"},
		{&Shell{Cmd: "x", Unless: []string{""}}, "unless", "is empty"},
		{&Shell{Cmd: "x", Env: map[string]string{"": "x"}}, "env", "bad variable name"},
	}
	for _, tc := range cases {
		err := tc.task.Validate()
		if tc.arg == "" {
			if err != nil {
				t.Errorf("%+v: unexpected error %v", tc.task, err)
			}
			continue
		}
		var ae *tasks.ArgError
		if !errors.As(err, &ae) || ae.Arg != tc.arg || !strings.Contains(ae.Msg, tc.contain) {
			t.Errorf("%+v: err = %v, want %s: ...%s...", tc.task, err, tc.arg, tc.contain)
		}
	}
}

// TestRealShell runs /bin/sh for real in a temp dir, through the real
// runner: the shell module with creates converges, and the second Check
// does not run it again.
func TestRealShell(t *testing.T) {
	if _, err := os.Stat(Sh); err != nil {
		testhost.Skipf(t, "no /bin/sh on this machine")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	sys := &tasks.System{Root: "/", Runner: tasks.ExecRunner{}}
	task := &Shell{
		Cmd:     `cat > "$OUT" && echo made "$OUT" && pwd >&2`,
		Creates: out,
		Chdir:   dir,
		Stdin:   "from stdin\n",
		Env:     map[string]string{"OUT": out},
	}
	p := taskstest.Converge(t, sys, task)
	if p.Empty() {
		t.Fatal("nothing planned")
	}
	data, err := os.ReadFile(out)
	if err != nil || string(data) != "from stdin\n" {
		t.Fatalf("out = %q, %v", data, err)
	}
	o := task.Output()
	if o["stdout"] != "made "+out || o["stderr"] != dir || o["rc"] != 0 {
		t.Errorf("output %#v", o)
	}

	cmd := &Command{Argv: []string{"sh", "-c", "exit 3"}}
	p, err = cmd.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Apply(context.Background(), sys, p); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("err = %v", err)
	}
	if cmd.Output()["rc"] != 3 {
		t.Errorf("rc %v", cmd.Output()["rc"])
	}
}
