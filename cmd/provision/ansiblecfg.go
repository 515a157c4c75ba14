package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/provision-tool/provision/input"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
)

// ansibleCfg is what provision reads of an ansible.cfg: the inventory,
// forks, roles_path, remote_user, private_key_file and the
// [privilege_escalation] settings. Command-line flags win over it.
type ansibleCfg struct {
	path       string // absolute path of the file read; "" for none
	inventory  []string
	forks      int // 0: not set
	rolesPath  []string
	remoteUser string
	privateKey string
	become     *bool
	becomeUser string
	askPass    *bool
	warnings   []string
}

// cfgError is a problem at a line of an ansible.cfg.
type cfgError struct {
	file string
	line int
	msg  string
}

func (e *cfgError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// ansibleCfgPlaces are where Ansible looks for its configuration, in
// order; the first file found is the one read. ANSIBLE_CONFIG may name a
// file or a directory holding ansible.cfg.
func ansibleCfgPlaces(getenv func(string) string) (places []string, warnings []string) {
	if env := getenv("ANSIBLE_CONFIG"); env != "" {
		p := expandHome(env, getenv("HOME"))
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, "ansible.cfg")
		}
		places = append(places, p)
	}
	if cwd, err := os.Getwd(); err == nil {
		local := filepath.Join(cwd, "ansible.cfg")
		if st, err := os.Stat(cwd); err == nil && st.Mode().Perm()&0o002 != 0 {
			// As Ansible: anyone could have put it there.
			if _, err := os.Lstat(local); err == nil {
				warnings = append(warnings, fmt.Sprintf("the current directory %s is world-writable: its ansible.cfg is not read", cwd))
			}
		} else {
			places = append(places, local)
		}
	}
	if home := getenv("HOME"); home != "" {
		places = append(places, filepath.Join(home, ".ansible.cfg"))
	}
	return places, warnings
}

// expandHome expands a leading ~/ to home.
func expandHome(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, p[1:])
	}
	return p
}

// loadAnsibleCfg finds and reads the ansible.cfg Ansible would read. No
// file is no error: cfg.path is then "".
func loadAnsibleCfg(getenv func(string) string) (*ansibleCfg, error) {
	places, warnings := ansibleCfgPlaces(getenv)
	for i, p := range places {
		data, err := input.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			if i == 0 && getenv("ANSIBLE_CONFIG") != "" {
				warnings = append(warnings, fmt.Sprintf("ANSIBLE_CONFIG=%s: no such file; looking in the usual places", getenv("ANSIBLE_CONFIG")))
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ansible.cfg: %w", err)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		cfg, err := parseAnsibleCfg(abs, data, getenv("HOME"))
		if err != nil {
			return nil, err
		}
		cfg.warnings = append(warnings, cfg.warnings...)
		return cfg, nil
	}
	return &ansibleCfg{warnings: warnings}, nil
}

// cfgLine is one `key = value` of an ansible.cfg.
type cfgLine struct {
	section, key, value string
	line                int
}

// parseIni reads an INI file as Python's configparser reads Ansible's:
// [sections], `key = value` or `key: value` (keys are case-insensitive),
// whole-line comments starting with # or ;, inline comments after " ;",
// indented continuation lines. A duplicate section or key is an error,
// as it is for configparser.
func parseIni(file string, data []byte) ([]cfgLine, error) {
	var out []cfgLine
	section := ""
	sections := map[string]bool{}
	keys := map[string]int{}
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.TrimRight(raw, "\r")
		trimmed := strings.TrimSpace(line)
		if j := strings.Index(trimmed, " ;"); j >= 0 {
			trimmed = strings.TrimSpace(trimmed[:j])
		}
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";"):
			continue
		case line[0] == ' ' || line[0] == '\t':
			if len(out) == 0 || out[len(out)-1].section != section {
				return nil, &cfgError{file, n, fmt.Sprintf("indented line %q continues no key", trimmed)}
			}
			out[len(out)-1].value += "\n" + trimmed
			continue
		case strings.HasPrefix(trimmed, "["):
			if !strings.HasSuffix(trimmed, "]") || len(trimmed) < 3 {
				return nil, &cfgError{file, n, fmt.Sprintf("malformed section header %q: want [name]", trimmed)}
			}
			section = trimmed[1 : len(trimmed)-1]
			if sections[section] {
				return nil, &cfgError{file, n, fmt.Sprintf("section [%s] given twice", section)}
			}
			sections[section] = true
			continue
		}
		k, v, ok := cutKey(trimmed)
		switch {
		case !ok:
			return nil, &cfgError{file, n, fmt.Sprintf("expected key = value, found %q", trimmed)}
		case section == "":
			return nil, &cfgError{file, n, fmt.Sprintf("%q comes before any [section] header", trimmed)}
		}
		k = strings.ToLower(k)
		if first, dup := keys[section+"\x00"+k]; dup {
			return nil, &cfgError{file, n, fmt.Sprintf("[%s] %s given twice (first at line %d)", section, k, first)}
		}
		keys[section+"\x00"+k] = n
		out = append(out, cfgLine{section: section, key: k, value: v, line: n})
	}
	return out, nil
}

// cutKey splits a line at its first = or :.
func cutKey(s string) (k, v string, ok bool) {
	i := strings.IndexAny(s, "=:")
	if i <= 0 {
		return "", "", false
	}
	return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:]), true
}

// parseAnsibleCfg reads the settings provision uses from an ansible.cfg
// at the absolute path file; relative paths in it are relative to the
// file's directory, as in Ansible.
func parseAnsibleCfg(file string, data []byte, home string) (*ansibleCfg, error) {
	lines, err := parseIni(file, data)
	if err != nil {
		return nil, err
	}
	cfg := &ansibleCfg{path: file}
	dir := filepath.Dir(file)
	resolve := func(p string) string {
		p = expandHome(p, home)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return filepath.Clean(p)
	}
	for _, l := range lines {
		if err := cfg.set(l, resolve); err != nil {
			return nil, &cfgError{file, l.line, err.Error()}
		}
	}
	return cfg, nil
}

// set takes one setting.
func (c *ansibleCfg) set(l cfgLine, resolve func(string) string) error {
	var err error
	switch l.section + "." + l.key {
	case "defaults.inventory", "defaults.hostfile":
		for _, p := range strings.Split(l.value, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.inventory = append(c.inventory, resolve(p))
			}
		}
	case "defaults.roles_path":
		for _, p := range strings.Split(l.value, ":") {
			if p = strings.TrimSpace(p); p != "" {
				c.rolesPath = append(c.rolesPath, resolve(p))
			}
		}
	case "defaults.forks":
		c.forks, err = strconv.Atoi(l.value)
		if err != nil || c.forks < 1 {
			return fmt.Errorf("forks: want a number of at least 1, found %q", l.value)
		}
	case "defaults.remote_user":
		c.remoteUser = l.value
	case "defaults.private_key_file":
		c.privateKey = resolve(l.value)
	case "privilege_escalation.become":
		c.become, err = cfgBool(l)
	case "privilege_escalation.become_user":
		c.becomeUser = l.value
	case "privilege_escalation.become_ask_pass":
		c.askPass, err = cfgBool(l)
	case "privilege_escalation.become_method":
		if l.value != "sudo" {
			return fmt.Errorf("become_method: only sudo is supported (the agent runs as root and switches to become_user itself), found %q", l.value)
		}
	default:
		c.warnings = append(c.warnings, fmt.Sprintf("%s:%d: [%s] %s is not read by provision (it reads inventory, forks, roles_path, remote_user, private_key_file and [privilege_escalation] become, become_user, become_method, become_ask_pass; the rest is ignored)", c.path, l.line, l.section, l.key))
	}
	return err
}

// cfgBool reads a boolean as Ansible's boolean() does.
func cfgBool(l cfgLine) (*bool, error) {
	switch strings.ToLower(l.value) {
	case "y", "yes", "on", "1", "true", "t":
		b := true
		return &b, nil
	case "n", "no", "off", "0", "false", "f":
		b := false
		return &b, nil
	}
	return nil, fmt.Errorf("%s: want true or false, found %q", l.key, l.value)
}

// applyCfg makes the ansible.cfg's settings the defaults of the flags the
// command line did not set, and prints its warnings. With --root or
// --chroot, the run is on one tree: the file's inventory is not used.
func (e *env) applyCfg(cfg *ansibleCfg, f *applyFlags, changed func(string) bool) {
	e.cfgWarnings(cfg)
	if cfg.path == "" {
		return
	}
	if len(cfg.inventory) > 0 && len(f.inventories) == 0 {
		if f.root != "/" || f.chroot != "" {
			fmt.Fprintf(e.stderr, "warning: %s: its inventory is not used: --root and --chroot run on one tree\n", cfg.path)
		} else {
			f.inventories = append(f.inventories, cfg.inventory...)
		}
	}
	if cfg.forks > 0 && !changed("forks") {
		f.forks = cfg.forks
	}
	if cfg.become != nil && !changed("become") {
		f.ansible.become = *cfg.become
	}
	if f.ansible.become && cfg.becomeUser != "" && !changed("become-user") {
		f.ansible.becomeUser = cfg.becomeUser
	}
	if cfg.askPass != nil && !changed("ask-become-pass") {
		f.askBecomePass = *cfg.askPass
	}
}

// applySSH gives ssh hosts the file's remote_user and private_key_file
// where neither a flag nor the host's variables set them.
func (c *ansibleCfg) applySSH(targets []target, a *ansibleFlags) {
	for i := range targets {
		t := &targets[i]
		if t.Connection != "ssh" {
			continue
		}
		if c.remoteUser != "" && a.user == "" && !hasVar(t, "ansible_user", "ansible_ssh_user") {
			t.User = c.remoteUser
		}
		if c.privateKey != "" && a.privateKey == "" && !hasVar(t, "ansible_private_key_file", "ansible_ssh_private_key_file") {
			t.KeyFile = c.privateKey
		}
	}
}

// playbookRolesPath is the roles path relative to the playbook's
// directory; a directory outside it is left out with a warning: roles are
// read from inside the playbook's directory only, which a remote host
// gets in its bundle.
func (e *env) playbookRolesPath(cfg *ansibleCfg, pbFile string) []string {
	if cfg == nil {
		return nil
	}
	dir, err := filepath.Abs(filepath.Dir(pbFile))
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range cfg.rolesPath {
		rel, err := filepath.Rel(dir, p)
		if err != nil || !filepath.IsLocal(rel) && rel != "." {
			fmt.Fprintf(e.stderr, "warning: %s: roles_path %s is outside the playbook's directory %s: provision reads roles only from inside it; not searched\n", cfg.path, p, dir)
			continue
		}
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

// loadOptions are the playbook options of a run.
func (e *env) loadOptions(cfg *ansibleCfg, pbFile string, extra map[string]any) playbook.Options {
	vars := map[string]any{}
	for k, v := range extra {
		vars[k] = v
	}
	return playbook.Options{RolesPath: e.playbookRolesPath(cfg, pbFile), Vars: vars}
}

// cfgVersionLine is the second line of --version, as ansible-playbook
// --version names its config file: the ansible.cfg a run would read.
func cfgVersionLine() string {
	places, _ := ansibleCfgPlaces(os.Getenv)
	for _, p := range places {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			return "  config file = " + p
		}
	}
	return "  config file = None"
}

// cfgWarnings prints the warnings of reading cfg, escaped: they quote the
// file's own text (report.Escape).
func (e *env) cfgWarnings(cfg *ansibleCfg) {
	for _, w := range cfg.warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", report.Escape(w, false))
	}
}
