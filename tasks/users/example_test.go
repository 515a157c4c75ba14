package users

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/tasks"
)

// TestExamples decodes each module's Example with the playbook decoder and
// validates it, as the engine would.
func TestExamples(t *testing.T) {
	for _, name := range []string{"user", "subid"} {
		m, ok := tasks.Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		if m.Doc == "" || strings.HasSuffix(m.Summary, ".") || strings.ToLower(m.Summary[:1]) != m.Summary[:1] {
			t.Errorf("%s: summary %q should be one lower-case line without a period, and Doc is required", name, m.Summary)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(m.Example), &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.SequenceNode {
			t.Fatalf("%s example: not a YAML list: %v", name, err)
		}
		n := 0
		for _, item := range doc.Content[0].Content {
			for i := 0; i+1 < len(item.Content); i += 2 {
				if item.Content[i].Value != name {
					continue
				}
				n++
				task := m.New()
				if errs := playbook.DecodeArgs(name+" example", item.Content[i+1], task, nil); len(errs) > 0 {
					t.Errorf("%s example: %v", name, errs)
				}
				if err := playbook.Validate(task); err != nil {
					t.Errorf("%s example: %v", name, err)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s example has no %s task", name, name)
		}
	}
}
