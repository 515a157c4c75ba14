package main

import (
	"encoding/json"

	"github.com/provision-tool/provision/playbook"
)

// schemaJSON is the playbook schema as `provision schema` prints it and
// docs/playbook.schema.json holds it.
func schemaJSON() []byte {
	b, err := json.MarshalIndent(playbook.Schema(), "", "  ")
	if err != nil {
		panic(err) // maps of strings, lists and numbers always encode
	}
	return append(b, '\n')
}

// schema is `provision schema`: the JSON Schema of playbooks, for
// editors, on stdout.
func (e *env) schema(args []string) int {
	fs := newFlags("schema", "", summaries["schema"])
	if code, ok := fs.parseNone(e, args, ""); !ok {
		return code
	}
	e.stdout.Write(schemaJSON())
	return exitOK
}
