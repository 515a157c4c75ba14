package inventory

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*.txtar")

// TestGolden runs every testdata/load/*.txtar: the archive's files are
// written to a temporary directory, the "args" section says what to load
// (inventory PATH, playbook DIR, select PATTERN, limit PATTERN LIMIT, one
// per line), and the "want" section is the exact dump of the result, or the
// exact error. Run with -update to rewrite the want sections.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/load/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(file)
			dir := t.TempDir()
			var args string
			wantIdx := -1
			for i, f := range ar.Files {
				switch f.Name {
				case "args":
					args = string(f.Data)
				case "want":
					wantIdx = i
				default:
					p := filepath.Join(dir, f.Name)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			if wantIdx < 0 {
				t.Fatal("no want section")
			}
			t.Chdir(dir)
			t.Setenv("HOME", "/home/tester")
			got := runArgs(t, args)
			if *update {
				ar.Files[wantIdx].Data = []byte(got)
				if err := os.WriteFile(abs, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := string(ar.Files[wantIdx].Data); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func runArgs(t *testing.T, args string) string {
	t.Helper()
	var sources, selects []string
	playbook := ""
	for _, line := range strings.Split(args, "\n") {
		key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch key {
		case "":
		case "inventory":
			sources = append(sources, val)
		case "playbook":
			playbook = val
		case "select", "limit":
			selects = append(selects, strings.TrimSpace(line))
		default:
			t.Fatalf("bad args line %q", line)
		}
	}
	inv, err := Load(sources, playbook)
	if err != nil {
		return "error:\n" + err.Error() + "\n"
	}
	var b strings.Builder
	b.WriteString(dump(inv))
	implicit := map[*Host]bool{}
	for _, s := range selects {
		key, val, _ := strings.Cut(s, " ")
		var hosts []*Host
		var err error
		if key == "limit" {
			pat, lim, _ := strings.Cut(val, " ")
			hosts, err = inv.SelectLimit(pat, lim)
		} else {
			hosts, err = inv.Select(val)
		}
		fmt.Fprintf(&b, "%s: ", s)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
			continue
		}
		names := []string{}
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		b.WriteString(strings.Join(names, " "))
		if u := inv.Unmatched(val); key == "select" && len(u) > 0 {
			fmt.Fprintf(&b, " (unmatched: %s)", strings.Join(u, " "))
		}
		b.WriteString("\n")
		for _, h := range hosts {
			if h.Implicit && !implicit[h] {
				implicit[h] = true
				fmt.Fprintf(&b, "implicit host %s groups=%s\n  conn: %s\n", h.Name, strings.Join(h.Groups, ","), h.Conn)
				writeVars(&b, h.Vars, h.VarPos)
			}
		}
	}
	return b.String()
}

// dump renders an inventory deterministically: groups, then hosts with
// their connection and variables (with where each came from), then
// warnings.
func dump(inv *Inventory) string {
	var b strings.Builder
	for _, g := range inv.Groups() {
		fmt.Fprintf(&b, "group %s", g.Name)
		if !g.Pos.IsZero() {
			fmt.Fprintf(&b, " (%s)", g.Pos)
		}
		fmt.Fprintf(&b, " depth=%d", g.Depth)
		if g.Priority != 1 {
			fmt.Fprintf(&b, " priority=%d", g.Priority)
		}
		if len(g.Parents) > 0 {
			fmt.Fprintf(&b, " parents=%s", strings.Join(g.Parents, ","))
		}
		if len(g.Hosts) > 0 {
			fmt.Fprintf(&b, " hosts=%s", strings.Join(g.Hosts, ","))
		}
		b.WriteString("\n")
		writeVars(&b, g.Vars, g.VarPos)
	}
	for _, h := range inv.Hosts() {
		fmt.Fprintf(&b, "host %s", h.Name)
		if !h.Pos.IsZero() {
			fmt.Fprintf(&b, " (%s)", h.Pos)
		}
		fmt.Fprintf(&b, " groups=%s\n", strings.Join(h.Groups, ","))
		if h.ConnErr != nil {
			fmt.Fprintf(&b, "  conn error: %s\n", strings.ReplaceAll(h.ConnErr.Error(), "\n", "\n    "))
		}
		fmt.Fprintf(&b, "  conn: %s\n", h.Conn)
		writeVars(&b, h.Vars, h.VarPos)
	}
	for _, w := range inv.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func writeVars(b *strings.Builder, vars map[string]any, pos map[string]Pos) {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := json.Marshal(vars[k])
		fmt.Fprintf(b, "  %s = %s", k, v)
		if p, ok := pos[k]; ok && !p.IsZero() {
			fmt.Fprintf(b, "  # %s", p)
		}
		b.WriteString("\n")
	}
}
