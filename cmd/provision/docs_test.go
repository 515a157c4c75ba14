package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/modules from the modules' definitions")

// TestModuleDocsUpToDate fails when docs/modules/NAME.md differs from what
// the module's definition generates. Refresh with
// `go test ./cmd/provision -run ModuleDocs -update`.
func TestModuleDocsUpToDate(t *testing.T) {
	dir := "../../docs/modules"
	for _, m := range tasks.Modules() {
		if m.Summary == "" || m.Doc == "" || m.Example == "" {
			t.Errorf("module %s needs a summary, doc and example", m.Name)
		} else if strings.HasSuffix(m.Summary, ".") || strings.ToLower(m.Summary[:1]) != m.Summary[:1] {
			t.Errorf("module %s: summary %q should be one lower-case line without a period", m.Name, m.Summary)
		}
		for _, a := range m.Args() {
			if a.Doc == "" {
				t.Errorf("module %s: argument %s has no doc tag", m.Name, a.Name)
			}
		}
		path := filepath.Join(dir, m.Name+".md")
		want := m.Markdown()
		if *updateDocs {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is stale: run go test ./cmd/provision -run ModuleDocs -update", path)
		}
	}
}

// TestModuleExamplesValidate checks that every module's example is a valid
// task list.
func TestModuleExamplesValidate(t *testing.T) {
	for _, m := range tasks.Modules() {
		pb := "- hosts: all\n  tasks:\n" + indent(m.Example, "    ")
		path := filepath.Join(t.TempDir(), m.Name+".yml")
		os.WriteFile(path, []byte(pb), 0o644)
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"validate", path}, nil, &bytes.Buffer{}, &stderr); code != 0 {
			t.Errorf("example of %s does not validate:\n%s", m.Name, stderr.String())
		}
	}
}

// TestExamplesValidate checks every playbook under examples/.
func TestExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"validate", f}, nil, &bytes.Buffer{}, &stderr); code != 0 {
			t.Errorf("%s:\n%s", f, stderr.String())
		}
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestUnsupportedDocumented runs every row of the table of what is
// still unsupported in docs/playbooks.md: the Ansible snippet, put where
// the row says (a task's key, a task, a play's key), gives the message
// the row shows, from validate, or from apply under --root for rows
// marked (run).
func TestUnsupportedDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/playbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "<!-- unsupported: begin -->\n")
	table, _, _ = strings.Cut(table, "<!-- unsupported: end -->")
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), " | ")
		if len(cells) != 3 || !strings.HasPrefix(cells[1], "`") {
			continue
		}
		rows++
		where := strings.TrimPrefix(cells[0], "| ")
		snippet := strings.ReplaceAll(strings.Trim(cells[1], "`"), "\x00", "|")
		want := strings.TrimSuffix(strings.TrimSuffix(strings.Trim(strings.TrimSuffix(cells[2], " |"), "`"), "..."), "`")
		var pb string
		switch strings.TrimSuffix(where, " (run)") {
		case "task":
			pb = "- hosts: all\n  tasks:\n    - debug: {msg: x}\n      " + snippet + "\n"
		case "module":
			pb = "- hosts: all\n  tasks:\n    - " + snippet + "\n"
		case "play":
			pb = "- hosts: all\n  " + snippet + "\n  tasks: []\n"
			if strings.HasPrefix(snippet, "hosts:") {
				pb = "- " + snippet + "\n  tasks: []\n"
			}
		default:
			t.Errorf("row %q: unknown place %q", line, where)
			continue
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "p.yml")
		if err := os.WriteFile(file, []byte(pb), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"validate", file}
		if strings.HasSuffix(where, " (run)") {
			root := filepath.Join(dir, "root")
			os.Mkdir(root, 0o755)
			args = []string{"apply", "--root", root, file}
		}
		var stdout, stderr bytes.Buffer
		run(context.Background(), args, nil, &stdout, &stderr)
		if out := stdout.String() + stderr.String(); !strings.Contains(out, want) {
			t.Errorf("%s %s: output does not contain %q:\n%s", where, snippet, want, out)
		}
	}
	if rows < 40 {
		t.Errorf("%d rows read from the table, want at least 40", rows)
	}
}
