package playbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// seedYAML adds the YAML files of the repository's fixtures as seeds.
func seedYAML(f *testing.F, globs ...string) {
	for _, glob := range globs {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			if strings.HasSuffix(p, ".txtar") {
				ar, err := txtar.ParseFile(p)
				if err != nil {
					f.Fatal(err)
				}
				for _, file := range ar.Files {
					if strings.HasSuffix(file.Name, ".yml") {
						f.Add(file.Data)
					}
				}
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// FuzzParse: no playbook crashes or hangs the parser, and every problem
// has a position in the file.
func FuzzParse(f *testing.F) {
	seedYAML(f, "../examples/*.yml", "testdata/errors/*.txtar")
	f.Add([]byte("- &p {hosts: all, tasks: [&t {file: {<<: {path: /a}, state: absent}}, *t]}\n- *p\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("f.yml", data)
		if err == nil {
			if pb == nil {
				t.Fatal("no playbook and no error")
			}
			return
		}
		errs, ok := err.(Errors)
		if !ok || len(errs) == 0 {
			t.Fatalf("error %v is not a list of problems", err)
		}
		for _, e := range errs {
			if e.Pos.File != "f.yml" || e.Pos.Line < 1 {
				t.Fatalf("problem without a position: %v", e)
			}
		}
	})
}
