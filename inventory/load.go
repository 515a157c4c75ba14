package inventory

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
)

// Load reads inventory sources, as ansible-playbook -i does for each -i:
//
//   - a file: YAML when named .yml, .yaml or .json, INI when named .ini;
//     with no or another extension, YAML when its content is a YAML
//     mapping, INI otherwise (Ansible tries its yaml plugin before its ini
//     plugin);
//   - a directory: every file in it and its subdirectories, sorted by name,
//     skipping hidden entries, group_vars, host_vars and vars_plugins, and
//     the extensions of Ansible's INVENTORY_IGNORE_EXTS (.pyc .pyo .swp
//     .bak ~ .rpm .md .txt .rst .orig .cfg .retry); files with an extension
//     that is neither YAML nor .ini are skipped with a warning;
//   - a path that does not exist but contains a comma: a host list,
//     "web1,web2:2222," (ranges are expanded), whose hosts are ungrouped.
//
// group_vars/ and host_vars/ are read beside each file source (in its
// directory) and inside each directory source, then in playbookDir when it
// is not empty (see the package documentation for the precedence).
//
// Where Ansible only warns that it could not parse a source and goes on
// with fewer hosts, Load fails: every problem is returned at once as
// Errors, sorted by position.
func Load(sources []string, playbookDir string) (*Inventory, error) {
	b := newBuilder()
	inv := b.inv
	inv.Sources = append([]string{}, sources...)
	inv.files = newVarsFiles()
	inv.playbookDir = playbookDir
	for _, src := range sources {
		st, err := os.Stat(src)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist) && strings.Contains(src, ","):
			b.parseHostList(src)
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			b.errs.Add(Pos{}, "inventory %s: %v", src, err)
		case st.IsDir():
			inv.varsDirs = append(inv.varsDirs, src)
			b.parseDir(src, nil)
		default:
			inv.varsDirs = append(inv.varsDirs, filepath.Dir(src))
			b.parsePath(src)
		}
	}
	return b.finish()
}

// Parse reads one inventory file's content, in the format its name and
// content say (as Load does for a file), without group_vars/ or host_vars/.
func Parse(name string, data []byte) (*Inventory, error) {
	b := newBuilder()
	b.inv.Sources = []string{name}
	b.inv.files = newVarsFiles()
	b.parse(name, data)
	return b.finish()
}

// ParseHostList reads a comma-separated host list such as "web1,web2,".
func ParseHostList(list string) (*Inventory, error) {
	b := newBuilder()
	b.inv.Sources = []string{list}
	b.inv.files = newVarsFiles()
	b.parseHostList(list)
	return b.finish()
}

var (
	ignoredNames = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$`)
	ignoredExts  = []string{".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry"}
)

func ignoredInDir(name string) bool {
	if ignoredNames.MatchString(name) {
		return true
	}
	for _, ext := range ignoredExts {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// dirID names a directory whatever the links that lead to it.
type dirID struct{ dev, ino uint64 }

func idOf(path string) (dirID, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return dirID{}, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return dirID{}, false
	}
	return dirID{uint64(sys.Dev), sys.Ino}, true
}

// parseDir reads the inventory files in dir and its subdirectories, each
// directory once however many links lead to it: links that fan out
// would otherwise name exponentially many paths. A link back to a
// directory being read (in ids, its ancestors) is an error, a link to
// one read already a warning.
func (b *builder) parseDir(dir string, ids []dirID) {
	if id, ok := idOf(dir); ok {
		if b.dirs == nil {
			b.dirs = map[dirID]string{}
		}
		if first, seen := b.dirs[id]; seen {
			if slices.Contains(ids, id) {
				b.errs.Add(Pos{File: dir}, "loops back to %s: not read again", first)
			} else {
				b.warns.Add(Pos{File: dir}, "already read as %s: not read again", first)
			}
			return
		}
		b.dirs[id] = dir
		ids = append(ids, id)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		b.errs.Add(Pos{File: dir}, "%v", unwrapPath(err))
		return
	}
	for _, d := range des {
		name := d.Name()
		if ignoredInDir(name) {
			continue
		}
		path := filepath.Join(dir, name)
		if isDir(path, d) {
			b.parseDir(path, ids)
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case "", ".ini", ".yml", ".yaml", ".json":
			b.parsePath(path)
		default:
			b.warns.Add(Pos{File: path}, "skipped: provision reads INI (.ini or no extension) and YAML (.yml, .yaml, .json) inventory files")
		}
	}
}

func (b *builder) parsePath(path string) {
	data, err := input.ReadFile(path)
	if err != nil {
		b.errs.Add(Pos{File: path}, "%v", unwrapPath(err))
		return
	}
	b.parse(path, data)
}

func (b *builder) parse(name string, data []byte) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	switch detectFormat(name, data) {
	case "script":
		b.errs.Add(Pos{File: name, Line: 1, Col: 1}, "dynamic inventory scripts are not supported: provision reads static INI and YAML inventories")
	case "yaml":
		b.parseYAML(name, data)
	default:
		b.parseINI(name, data)
	}
}

// detectFormat says how to read a file: "yaml", "ini" or "script".
func detectFormat(name string, data []byte) string {
	if bytes.HasPrefix(data, []byte("#!")) {
		return "script"
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yml", ".yaml", ".json":
		return "yaml"
	case ".ini":
		return "ini"
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
		return "yaml"
	}
	return "ini"
}

// parseHostList reads "host1,host2:2222," as Ansible's host_list plugin
// does, expanding ranges as its advanced_host_list plugin would.
func (b *builder) parseHostList(list string) {
	ungrouped := b.inv.groupMap["ungrouped"]
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, port, hasPort := splitHostPort(item)
		if !hasPort {
			port = 0
		}
		names, err := expandHostPattern(name)
		if err != nil {
			b.errs.Add(Pos{}, "host list %q: %v", list, err)
			continue
		}
		for _, n := range names {
			if b.inv.hostMap[n] == nil {
				b.addHost(n, ungrouped, Pos{}, "", port, Pos{})
			}
		}
	}
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
