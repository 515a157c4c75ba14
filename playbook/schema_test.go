package playbook

import (
	"testing"
)

// TestSchemaCoversKeys fails when the parser learns a play, task or
// block key the schema does not describe.
func TestSchemaCoversKeys(t *testing.T) {
	for _, k := range append(append(append([]string{}, playKeys...), taskKeys...), blockKeys...) {
		if keySchemas[k] == nil {
			t.Errorf("key %q has no schema in keySchemas", k)
		}
	}
}
