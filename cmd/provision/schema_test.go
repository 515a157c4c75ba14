package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/tasks"
)

const schemaFile = "../../docs/playbook.schema.json"

// TestSchemaUpToDate fails when docs/playbook.schema.json differs from
// what `provision schema` prints. Refresh with
// `go test ./cmd/provision -run SchemaUpToDate -update`.
func TestSchemaUpToDate(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"schema"}, nil, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("provision schema: exit %d", code)
	}
	if !bytes.Equal(out.Bytes(), schemaJSON()) {
		t.Fatal("provision schema prints something else than schemaJSON")
	}
	if *updateDocs {
		if err := os.WriteFile(schemaFile, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil || !bytes.Equal(got, out.Bytes()) {
		t.Errorf("%s is stale: run go test ./cmd/provision -run SchemaUpToDate -update", schemaFile)
	}
}

// compileSchema compiles the committed schema with an independent
// validator, at the given definition ("" for a whole playbook).
func compileSchema(t *testing.T, def string) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(playbook.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	loc := playbook.SchemaID
	if def != "" {
		loc += "#/definitions/" + def
	}
	s, err := c.Compile(loc)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// instance turns YAML into the JSON value an editor's validator sees.
func instance(t *testing.T, name string, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return inst
}

// playbookFiles are the examples and the testdata playbooks: the files
// themselves, and those inside testscripts, unpacked into a directory.
func playbookFiles(t *testing.T) []string {
	var files []string
	for _, g := range []string{"../../examples/*.yml", "testdata/ansible/*.yml", "../../bench/ansible/*.yml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	scripts, _ := filepath.Glob("testdata/script/*.txtar")
	for _, s := range scripts {
		a, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), filepath.Base(s))
		for _, f := range a.Files {
			p := filepath.Join(dir, f.Name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			if ext := filepath.Ext(f.Name); (ext == ".yml" || ext == ".yaml") && !strings.Contains(f.Name, "/") {
				files = append(files, p)
			}
		}
	}
	return files
}

// TestSchemaAcceptsValidPlaybooks holds the schema to never refuse what
// provision accepts: every example and testdata playbook that validates
// validates against the schema too, and so do the task files of roles
// and the modules' examples.
func TestSchemaAcceptsValidPlaybooks(t *testing.T) {
	whole, taskList := compileSchema(t, ""), compileSchema(t, "taskList")
	checked := 0
	for _, f := range playbookFiles(t) {
		if _, err := playbook.Load(f); err != nil {
			continue // an invalid playbook kept for an error test
		}
		data, _ := os.ReadFile(f)
		if err := whole.Validate(instance(t, f, data)); err != nil {
			t.Errorf("%s is valid but the schema refuses it: %v", f, err)
		}
		checked++
	}
	roleTasks, _ := filepath.Glob("testdata/ansible/roles/*/*/*.yml")
	for _, f := range roleTasks {
		if strings.Contains(f, "/defaults/") || strings.Contains(f, "/vars/") {
			continue
		}
		data, _ := os.ReadFile(f)
		if err := taskList.Validate(instance(t, f, data)); err != nil {
			t.Errorf("%s: the schema refuses this task list: %v", f, err)
		}
		checked++
	}
	for _, m := range tasks.Modules() {
		if err := taskList.Validate(instance(t, m.Name, []byte(m.Example))); err != nil {
			t.Errorf("the example of module %s: the schema refuses it: %v", m.Name, err)
		}
	}
	t.Logf("%d playbooks and task files valid against the schema", checked)
	if checked < 15 {
		t.Errorf("only %d playbooks and task files checked: the globs went stale", checked)
	}
}

// TestSchemaRefusesBadPlaybooks checks that the schema catches what an
// editor should underline, each also refused by provision validate.
func TestSchemaRefusesBadPlaybooks(t *testing.T) {
	whole := compileSchema(t, "")
	for _, tc := range []struct{ name, pb string }{
		{"no hosts", "- tasks: []"},
		{"unknown play key", "- hosts: all\n  taks: []"},
		{"unknown module", "- hosts: all\n  tasks:\n    - copyy: {dest: /x, content: a}"},
		{"Ansible module provision refuses", "- hosts: all\n  tasks:\n    - apt: {name: podman}"},
		{"two modules", "- hosts: all\n  tasks:\n    - copy: {dest: /x, content: a}\n      file: {path: /y}"},
		{"unknown argument", "- hosts: all\n  tasks:\n    - copy: {dest: /x, content: a, mod: '0644'}"},
		{"missing required argument", "- hosts: all\n  tasks:\n    - copy: {content: a}"},
		{"missing required argument, FQCN", "- hosts: all\n  tasks:\n    - ansible.builtin.file: {state: directory}"},
		{"value outside the enum", "- hosts: all\n  tasks:\n    - file: {path: /x, state: dir}"},
		{"YAML 1.1 boolean", "- hosts: all\n  tasks:\n    - copy: {dest: /x, content: a, backup: yes}"},
		{"integer as text", "- hosts: all\n  tasks:\n    - subid: {user: a, count: many}"},
		{"integer below min", "- hosts: all\n  tasks:\n    - subid: {user: a, count: 0}"},
		{"free form for a module that has none", "- hosts: all\n  tasks:\n    - file: /x"},
		{"register on a block", "- hosts: all\n  tasks:\n    - block: []\n      register: r"},
		{"bad loop_control key", "- hosts: all\n  tasks:\n    - command: 'true'\n      loop: [1]\n      loop_control: {pause: 1}"},
		{"listen outside handlers", "- hosts: all\n  tasks:\n    - command: 'true'\n      listen: x"},
		{"bad meta", "- hosts: all\n  tasks:\n    - meta: end_play"},
		{"bad register name", "- hosts: all\n  tasks:\n    - command: 'true'\n      register: my-result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "site.yml")
			os.WriteFile(f, []byte(tc.pb), 0o644)
			if _, err := playbook.Load(f); err == nil {
				t.Fatalf("provision validate accepts this playbook: the case is wrong")
			}
			if err := whole.Validate(instance(t, tc.name, []byte(tc.pb))); err == nil {
				t.Errorf("the schema accepts:\n%s", tc.pb)
			}
		})
	}
}

// TestSchemaCoversModules checks the schema lists every module under its
// names, with every argument.
func TestSchemaCoversModules(t *testing.T) {
	s := playbook.Schema()
	defs := s["definitions"].(map[string]any)
	task := defs["task"].(map[string]any)["else"].(map[string]any)["else"].(map[string]any)["else"].(map[string]any)
	props := task["properties"].(map[string]any)
	for _, m := range tasks.Modules() {
		for _, name := range []string{m.Name, "ansible.builtin." + m.Name} {
			if props[name] == nil {
				t.Errorf("task key %s missing", name)
			}
		}
		def, _ := defs["module."+m.Name].(map[string]any)
		if alt, ok := def["anyOf"].([]map[string]any); ok {
			def = alt[1] // free form first
		}
		args, _ := def["properties"].(map[string]any)
		for _, a := range m.Args() {
			if args[a.Name] == nil {
				t.Errorf("module %s: argument %s missing", m.Name, a.Name)
			}
		}
	}
}

// TestEnumTagsMatchValidate checks each `enum` tag against the module's
// own checks: a value outside it is refused by validate, at the
// argument.
func TestEnumTagsMatchValidate(t *testing.T) {
	n := 0
	for _, m := range tasks.Modules() {
		typ := reflect.TypeOf(m.New()).Elem()
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if tasks.Enum(f) == nil {
				continue
			}
			name := tasks.ArgName(f)
			args := exampleArgs(t, m)
			args[name] = "not-a-" + name
			out, _ := yaml.Marshal([]any{map[string]any{"hosts": "all", "tasks": []any{map[string]any{m.Name: args}}}})
			_, err := playbook.Parse("site.yml", out)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: %s: %q is outside the enum tag, but validate says %v", m.Name, name, args[name], err)
			}
			n++
		}
	}
	if n < 8 {
		t.Errorf("only %d enum tags checked", n)
	}
}

// exampleArgs returns the arguments of the module's first task in its
// example.
func exampleArgs(t *testing.T, m tasks.Module) map[string]any {
	var list []map[string]any
	if err := yaml.Unmarshal([]byte(m.Example), &list); err != nil {
		t.Fatalf("%s example: %v", m.Name, err)
	}
	for _, task := range list {
		if args, ok := task[m.Name].(map[string]any); ok {
			return args
		}
	}
	t.Fatalf("%s: the example has no task with a mapping of arguments", m.Name)
	return nil
}
