package inventory

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
)

// varsExts are the extensions Ansible reads in group_vars/ and host_vars/
// (C.YAML_FILENAME_EXTENSIONS), after the bare name.
var varsExts = []string{"", ".yml", ".yaml", ".json"}

// varsFiles finds and loads group_vars/ and host_vars/ files, each once.
type varsFiles struct {
	mu      sync.Mutex
	entries map[string]map[string]bool // dir/sub -> entry name -> is a directory
	loaded  map[string]*varsFile
	warns   Errors
}

type varsFile struct {
	vals map[string]any
	pos  map[string]Pos
	err  Errors
}

func newVarsFiles() *varsFiles {
	return &varsFiles{entries: map[string]map[string]bool{}, loaded: map[string]*varsFile{}}
}

// list returns the entries of dir/sub (group_vars or host_vars), reading the
// directory once.
func (vf *varsFiles) list(dir, sub string) map[string]bool {
	path := filepath.Join(dir, sub)
	if e, ok := vf.entries[path]; ok {
		return e
	}
	e := map[string]bool{}
	vf.entries[path] = e
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return e
	case err != nil:
		vf.warns.Add(Pos{File: path}, "%v", err)
		return e
	case !st.IsDir():
		vf.warns.Add(Pos{File: path}, "%s is not a directory: skipped", sub)
		return e
	}
	des, err := os.ReadDir(path)
	if err != nil {
		vf.warns.Add(Pos{File: path}, "%v", err)
	}
	for _, d := range des {
		e[d.Name()] = isDir(filepath.Join(path, d.Name()), d)
	}
	return e
}

func isDir(path string, d fs.DirEntry) bool {
	if d.Type()&fs.ModeSymlink != 0 {
		st, err := os.Stat(path)
		return err == nil && st.IsDir()
	}
	return d.IsDir()
}

// find returns the files holding the variables of name in dir/sub, in load
// order, as Ansible's find_vars_files: the first of NAME, NAME.yml,
// NAME.yaml and NAME.json that exists; when it is a directory, every file
// in it and its subdirectories, sorted, skipping hidden files, names ending
// in ~ and extensions other than .yml, .yaml and .json.
func (vf *varsFiles) find(dir, sub, name string) []string {
	vf.mu.Lock()
	defer vf.mu.Unlock()
	entries := vf.list(dir, sub)
	for _, ext := range varsExts {
		isDir, ok := entries[name+ext]
		if !ok {
			continue
		}
		path := filepath.Join(dir, sub, name+ext)
		if isDir {
			return vf.dirVarsFiles(path, map[dirID]bool{})
		}
		return []string{path}
	}
	return nil
}

// dirVarsFiles lists the variable files under dir, each directory once
// however many links lead to it (seen; see builder.parseDir).
func (vf *varsFiles) dirVarsFiles(dir string, seen map[dirID]bool) []string {
	if id, ok := idOf(dir); ok {
		if seen[id] {
			vf.warns.Add(Pos{File: dir}, "a directory read already through another link: not read again")
			return nil
		}
		seen[id] = true
	}
	des, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range des {
		n := d.Name()
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
			continue
		}
		path := filepath.Join(dir, n)
		ext := filepath.Ext(n)
		if isDir(path, d) {
			if ext == "" {
				out = append(out, vf.dirVarsFiles(path, seen)...)
			}
			continue
		}
		if ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json" {
			out = append(out, path)
		}
	}
	return out
}

// load reads a vars file once: a YAML (or JSON) mapping of variable names.
func (vf *varsFiles) load(path string) *varsFile {
	vf.mu.Lock()
	defer vf.mu.Unlock()
	if f := vf.loaded[path]; f != nil {
		return f
	}
	f := &varsFile{vals: map[string]any{}, pos: map[string]Pos{}}
	vf.loaded[path] = f
	data, err := input.ReadFile(path)
	if err != nil {
		f.err.Add(Pos{File: path}, "%v", err)
		return f
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("$ANSIBLE_VAULT;")) {
		vf.warns.Add(Pos{File: path}, "file is encrypted with ansible-vault, which provision does not read: skipped")
		return f
	}
	root, errs := input.YAML(path, data)
	if errs != nil {
		f.err = append(f.err, errs...)
		return f
	}
	if isNull(root) { // empty files are ignored, as in Ansible
		return f
	}
	y := &yamlParser{file: path}
	vf.warns = append(vf.warns, duplicateKeys(path, root)...)
	if root.Kind != yaml.MappingNode {
		f.err.Add(y.pos(root), "a vars file is a mapping of variable names to values, found %s", kindName(root))
		return f
	}
	for _, kv := range pairs(root) {
		if kv[0].Kind != yaml.ScalarNode {
			f.err.Add(y.pos(kv[0]), "a variable name must be a string, found %s", kindName(kv[0]))
			continue
		}
		if isVaulted(kv[1]) {
			vf.warns.Add(y.pos(kv[1]), "variable %q is encrypted with ansible-vault, which provision does not read: it is left undefined", kv[0].Value)
			continue
		}
		v, err := y.value(kv[1])
		if err != nil {
			f.err = append(f.err, err)
			continue
		}
		f.vals[kv[0].Value] = v
		f.pos[kv[0].Value] = y.pos(kv[0])
	}
	return f
}

// warnUnusedVarsFiles warns about group_vars/ and host_vars/ entries that
// name no group or host but are close to one: most likely a typo. Entries
// with no close match are silent, as in Ansible (a playbook's group_vars/
// often serves several inventories).
func (inv *Inventory) warnUnusedVarsFiles() {
	dirs := append([]string{}, inv.varsDirs...)
	if inv.playbookDir != "" {
		dirs = append(dirs, inv.playbookDir)
	}
	groupNames := make([]string, 0, len(inv.groups))
	for _, g := range inv.groups {
		groupNames = append(groupNames, g.Name)
	}
	hostNames := make([]string, 0, len(inv.hosts))
	for _, h := range inv.hosts {
		hostNames = append(hostNames, h.Name)
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		for _, sub := range []string{"group_vars", "host_vars"} {
			inv.files.mu.Lock()
			entries := inv.files.list(d, sub)
			inv.files.mu.Unlock()
			names := make([]string, 0, len(entries))
			for n := range entries {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				path := filepath.Join(d, sub, n)
				if seen[path] || strings.HasPrefix(n, ".") {
					continue
				}
				seen[path] = true
				base := n
				if ext := filepath.Ext(n); ext == ".yml" || ext == ".yaml" || ext == ".json" {
					base = strings.TrimSuffix(n, ext)
				}
				if sub == "group_vars" {
					if inv.groupMap[base] == nil {
						if hint := suggest(base, groupNames); hint != "" {
							inv.Warnings.Add(Pos{File: path}, "no group named %q: these variables apply to no host%s", base, hint)
						}
					}
				} else if inv.hostMap[base] == nil && !isLocalhost(base) {
					if hint := suggest(base, hostNames); hint != "" {
						inv.Warnings.Add(Pos{File: path}, "no host named %q: these variables apply to no host%s", base, hint)
					}
				}
			}
		}
	}
	inv.Warnings = append(inv.Warnings, inv.files.warns...)
}
