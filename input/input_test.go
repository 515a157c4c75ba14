package input

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestReadFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 11)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, want string
		limit      int64
	}{
		{fifo, "read " + fifo + ": not a regular file: it is a FIFO (named pipe)", MaxSize},
		{"/dev/zero", "read /dev/zero: not a regular file: it is a character device", MaxSize},
		{dir, "not a regular file: it is a directory", MaxSize},
		{big, "read " + big + ": file is 11 bytes, more than the limit of 10 bytes", 10},
		{filepath.Join(dir, "none"), "no such file or directory", MaxSize},
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadFileLimit(tt.path, tt.limit); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: error %v, want %q", tt.path, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: read blocks", tt.path)
		}
	}
	if _, err := ReadFile(fifo); !errors.Is(err, ErrNotRegular) {
		t.Errorf("FIFO: %v is not ErrNotRegular", err)
	}
	if data, err := ReadFileLimit(big, 11); err != nil || len(data) != 11 {
		t.Errorf("at the limit: %q, %v", data, err)
	}
}

func mustYAML(t *testing.T, src string) *yaml.Node {
	t.Helper()
	n, errs := YAML("f.yml", []byte(src))
	if errs != nil {
		t.Fatalf("%q: %v", src, errs)
	}
	return n
}

func TestYAMLExpandsAliasesAndMerges(t *testing.T) {
	n := mustYAML(t, "a: &x {k: 1, l: 2}\nb: *x\nc:\n  <<: [*x, {m: 3, k: 9}]\n  l: 5\n")
	var got map[string]map[string]int
	if err := n.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"k": 1, "l": 5, "m": 3}
	for k, v := range want {
		if got["c"][k] != v {
			t.Errorf("c.%s = %d, want %d (%v)", k, got["c"][k], v, got)
		}
	}
	if got["b"]["k"] != 1 {
		t.Errorf("b = %v", got["b"])
	}
	b := n.Content[3]
	if b.Kind != yaml.MappingNode || b.Line != 2 || b.Column != 4 {
		t.Errorf("alias copy at %d:%d kind %v, want 2:4 mapping", b.Line, b.Column, b.Kind)
	}
	if b.Content[0].Line != 1 {
		t.Errorf("inside the copy, positions are the anchor's: line %d", b.Content[0].Line)
	}
}

func TestYAMLRefuses(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 8; i++ {
		name := prev + "a"
		laughs += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	for _, tt := range []struct{ src, want string }{
		{"a: 1\n---\nb: 2\n", "f.yml:2:1: a second YAML document starts here"},
		{laughs, "the aliases of this file expand to more than 200000 nodes"},
		{"a: {<<: 1}\n", "f.yml:1:9: merge key <<: expected a mapping or a list of mappings, found \"1\""},
		{"a: {<<: [1]}\n", "f.yml:1:10: merge key <<: expected a mapping to merge"},
		{"a: [\nb: c\n", "f.yml:2:1: invalid YAML: did not find expected ',' or ']'"},
		{"a: *b\n", "invalid YAML: unknown anchor 'b'"},
	} {
		_, errs := YAML("f.yml", []byte(tt.src))
		if errs == nil || !strings.Contains(errs.Error(), tt.want) {
			t.Errorf("%.40q: %v, want %q", tt.src, errs, tt.want)
		}
	}
	for _, empty := range []string{"", "# only a comment\n", "a: 1\n---\n"} {
		if _, errs := YAML("f.yml", []byte(empty)); errs != nil {
			t.Errorf("%q: %v", empty, errs)
		}
	}
}
