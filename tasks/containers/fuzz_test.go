package containers

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzTOMLEdit: on any file the TOML library reads, setting a key either
// fails with an error or yields a file the library still reads, with the
// key holding the value; removing it yields a readable file without it.
// The editor never panics on any input.
func FuzzTOMLEdit(f *testing.F) {
	for _, s := range []string{
		"[storage]\ndriver = \"overlay\"\n",
		"[storage]\noptions.overlay.mountopt = \"nodev\"\n# driver = \"vfs\"\n",
		"unqualified-search-registries = [\"docker.io\"]\n[[registry]]\nlocation = \"x\"\n",
		"[storage]\noptions = { overlay = { mount_program = \"/usr/bin/fuse-overlayfs\" } }\n",
		"a.b.c = 1\r\n[t] # c\n'q k' = \"v\"\n",
	} {
		f.Add(s, "storage.options.overlay.mount_program", "/usr/bin/fuse-overlayfs")
	}
	f.Add("", "storage.driver", "overlay")
	f.Fuzz(func(t *testing.T, text, dotted, value string) {
		path := strings.Split(dotted, ".")
		if len(text) > 4096 || len(path) > 6 || strings.Contains(dotted, "..") || dotted == "" {
			return
		}
		var doc map[string]any
		if _, err := toml.Decode(text, &doc); err != nil {
			setTOMLString(text, path, value) // must not panic
			removeTOMLKey(text, path)
			return
		}
		out, err := setTOMLString(text, path, value)
		if err != nil {
			return
		}
		var got map[string]any
		if _, err := toml.Decode(out, &got); err != nil {
			t.Fatalf("set %q = %q in\n%s\ngave unreadable TOML (%v):\n%s", dotted, value, text, err, out)
		}
		if v, ok := lookupTOML(got, path); !ok || v != value {
			t.Fatalf("set %q = %q in\n%s\ngave %v (%v):\n%s", dotted, value, text, v, ok, out)
		}
		out, err = removeTOMLKey(out, path)
		if err != nil {
			return
		}
		got = nil
		if _, err := toml.Decode(out, &got); err != nil {
			t.Fatalf("remove %q gave unreadable TOML (%v):\n%s", dotted, err, out)
		}
		if _, ok := lookupTOML(got, path); ok {
			t.Fatalf("remove %q left it in:\n%s", dotted, out)
		}
	})
}
