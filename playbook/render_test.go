package playbook

import (
	"testing"

	"gopkg.in/yaml.v3"
)

type contentArgs struct {
	Content *string  `yaml:"content"`
	Dest    string   `yaml:"dest"`
	Names   []string `yaml:"names"`
	Any     any      `yaml:"any"`
}

// TestRenderedValueNotRenderedAgain is issue 10: a host's os-release whose
// PRETTY_NAME is a template must not make the playbook write its secrets.
func TestRenderedValueNotRenderedAgain(t *testing.T) {
	scope := &Scope{
		Vars: map[string]any{
			"secret_token": "s3cr3t",
			"users":        []any{"{{ secret_token }}"},
			"extra":        map[string]any{"k": "{{ secret_token }}"},
		},
		Facts: func() map[string]any {
			return map[string]any{"os": map[string]any{"pretty_name": "{{ secret_token }}"}}
		},
	}
	src := `
content: "Welcome to {{ facts.os.pretty_name }}"
dest: "{{ facts.os.pretty_name }}"
names: "{{ users }}"
any: "{{ extra }}"
`
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	var a contentArgs
	if errs := DecodeArgs("p.yml", root.Content[0], &a, scope.Render); len(errs) > 0 {
		t.Fatal(errs)
	}
	if a.Content == nil || *a.Content != "Welcome to {{ secret_token }}" {
		t.Errorf("content = %v, want the pretty name as written", a.Content)
	}
	if a.Dest != "{{ secret_token }}" {
		t.Errorf("dest = %q", a.Dest)
	}
	if len(a.Names) != 1 || a.Names[0] != "{{ secret_token }}" {
		t.Errorf("names = %q", a.Names)
	}
	if m, _ := a.Any.(map[string]any); m["k"] != "{{ secret_token }}" {
		t.Errorf("any = %v", a.Any)
	}
}
