// Package sysctl holds the sysctl module: a kernel parameter persisted in
// a sysctl.d file and set on the running kernel.
package sysctl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks"
)

// DefaultFile is where the sysctl module persists settings by default.
const DefaultFile = "/etc/sysctl.d/90-provision.conf"

// Sysctl is one kernel parameter.
type Sysctl struct {
	Name      string `yaml:"name" required:"true" doc:"the parameter, dotted (user.max_user_namespaces)"`
	Value     string `yaml:"value" doc:"the value; required when state is present"`
	File      string `yaml:"file" default:"/etc/sysctl.d/90-provision.conf" doc:"where to persist it: a .conf file in /etc/sysctl.d, or /etc/sysctl.conf"`
	State     string `yaml:"state" default:"present" enum:"present,absent" doc:"present or absent (removes the line from file; the running value is left alone)"`
	ApplyLive *bool  `yaml:"apply_live" default:"true" doc:"also set the running kernel's value through /proc/sys"`
}

func init() {
	tasks.Register(tasks.Module{
		Name:    "sysctl",
		Summary: "persist a kernel parameter in sysctl.d and set it on the running kernel",
		Doc: `Keeps one ` + "`name = value`" + ` line in a sysctl.d file (by default
/etc/sysctl.d/90-provision.conf, which several sysctl tasks can share) and
writes the value to /proc/sys so it applies now, without a reboot or
` + "`sysctl --system`" + `.

Check looks at the file line by line: a line setting the same parameter
(also written with slashes, or with the ` + "`-`" + ` prefix) is replaced by the
canonical ` + "`name = value`" + ` unless it sets the same value with only white
space differing (` + "`name=value`" + `, as Ansible's sysctl module writes it, is
kept), later duplicates are removed
(the last one would win), and every other line is kept byte for byte. The
change carries the file's path, so --diff shows a unified diff. With
` + "`apply_live`" + ` (the default) Check also reads /proc/sys/NAME and compares it
with the value with whitespace normalised, since the kernel prints some
values tab-separated (net.ipv4.ping_group_range reads back as "0\t2147483647").

Apply writes the file atomically and the value to /proc/sys. In a container
/proc/sys is usually read-only: the task then fails with a clear message
(set ` + "`apply_live: false`" + ` to only persist the setting). A parameter that
does not exist in /proc/sys (a module not loaded yet) is an error too.
When building an image (docs/images.md) the running kernel is the build
machine's: the value is only persisted, and the plan says apply_live was
skipped.

Check warns when a file read later at boot (by file name order across
/etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, and
/etc/sysctl.conf last) sets the same parameter to another value, since that
one would win at the next boot. ` + "`state: absent`" + ` removes the line from the
file and leaves the running value alone.`,
		Example: `- name: allow user namespaces (RHEL 7 ships 0)
  sysctl:
    name: user.max_user_namespaces
    value: "28633"

- name: let rootless containers bind port 80
  sysctl:
    name: net.ipv4.ip_unprivileged_port_start
    value: "80"`,
		New: func() tasks.Task { return new(Sysctl) },
	})
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$`)

// Validate checks the arguments without touching the host.
func (s *Sysctl) Validate() error {
	if s.File == "" {
		s.File = DefaultFile
	}
	if s.State == "" {
		s.State = "present"
	}
	switch {
	case s.Name == "":
		return tasks.BadArg("name", "is required")
	case strings.Contains(s.Name, "/"):
		return tasks.BadArg("name", "write the parameter with dots (net.ipv4.ip_forward), not slashes")
	case !nameRe.MatchString(s.Name):
		return tasks.BadArg("name", fmt.Sprintf("%q is not a sysctl name: dot-separated words of letters, digits, '_' and '-'", s.Name))
	}
	switch s.State {
	case "present":
		if strings.TrimSpace(s.Value) == "" {
			return tasks.BadArg("value", "is required when state is present")
		}
		if strings.ContainsAny(s.Value, "\n\r\x00") {
			return tasks.BadArg("value", "must be one line")
		}
	case "absent":
	default:
		return tasks.BadArg("state", fmt.Sprintf("%q is not present or absent", s.State))
	}
	if s.File != "/etc/sysctl.conf" {
		if filepath.Clean(s.File) != s.File || filepath.Dir(s.File) != "/etc/sysctl.d" || !strings.HasSuffix(s.File, ".conf") || filepath.Base(s.File) == ".conf" {
			return tasks.BadArg("file", "must be a .conf file directly in /etc/sysctl.d, or /etc/sysctl.conf")
		}
	}
	return nil
}

func (s *Sysctl) live() bool { return s.ApplyLive == nil || *s.ApplyLive }

// procPath is the /proc/sys file of the parameter.
func (s *Sysctl) procPath() string {
	return "/proc/sys/" + strings.ReplaceAll(s.Name, ".", "/")
}

// normalizeKey gives the dotted form of a key as written in a sysctl.d
// file: a leading '-' (ignore errors) is dropped, and a key written with
// slashes has its separators swapped, as systemd-sysctl does.
func normalizeKey(k string) string {
	k = strings.TrimPrefix(strings.TrimSpace(k), "-")
	if i := strings.IndexAny(k, "./"); i >= 0 && k[i] == '/' {
		k = strings.Map(func(r rune) rune {
			switch r {
			case '/':
				return '.'
			case '.':
				return '/'
			}
			return r
		}, k)
	}
	return k
}

// parseLine returns the key and value of an assignment line, or ok=false
// for blank lines and comments.
func parseLine(line string) (key, value string, ok bool) {
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' || t[0] == ';' {
		return "", "", false
	}
	k, v, found := strings.Cut(t, "=")
	if !found {
		return "", "", false
	}
	return normalizeKey(k), strings.TrimSpace(v), true
}

func fields(v string) string { return strings.Join(strings.Fields(v), " ") }

// edit returns the file content with the parameter set or removed.
func (s *Sysctl) edit(old string) string {
	want := s.Name + " = " + s.Value
	lines := strings.SplitAfter(old, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var out []string
	done := false
	for _, l := range lines {
		k, _, ok := parseLine(l)
		if !ok || k != s.Name {
			out = append(out, l)
			continue
		}
		if s.State == "present" && !done {
			nl := ""
			if strings.HasSuffix(l, "\n") {
				nl = "\n"
			}
			if strings.TrimRight(l, "\r\n") == want || s.sameSetting(l) {
				out = append(out, l)
			} else {
				out = append(out, want+nl)
			}
			done = true
		}
	}
	if s.State == "present" && !done {
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		out = append(out, want+"\n")
	}
	return strings.Join(out, "")
}

// sameSetting reports whether line sets the parameter to the value
// already, spelled with dots and written with other white space around
// "=" (Ansible's sysctl module writes name=value): such a line is kept.
func (s *Sysctl) sameSetting(line string) bool {
	k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
	return ok && strings.TrimSpace(k) == s.Name && fields(v) == fields(s.Value)
}

type sysctlPlan struct {
	content   string
	write     bool
	setLive   bool
	newFile   bool
	createDir bool
}

// Check compares the file and the running value with the task.
func (s *Sysctl) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if err := s.Validate(); err != nil {
		return p, err
	}
	var data sysctlPlan
	old, exists, err := sys.ReadFileIfExists(s.File)
	if err != nil {
		return p, err
	}
	content := s.edit(string(old))
	if content != string(old) {
		data.content, data.write, data.newFile = content, true, !exists
		if !exists {
			if _, err := sys.Stat(filepath.Dir(s.File)); errors.Is(err, fs.ErrNotExist) {
				data.createDir = true
			}
		}
		p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: s.File, Before: string(old), After: content})
	}
	if s.State == "present" && s.live() && sys.Image {
		p.Warn(fmt.Sprintf("image build: apply_live skipped; %s = %s is persisted in %s and set at boot", s.Name, fields(s.Value), s.File))
	} else if s.State == "present" && s.live() {
		cur, err := sys.ReadFile(s.procPath())
		if errors.Is(err, fs.ErrNotExist) {
			return p, fmt.Errorf("sysctl %s: %s does not exist (unknown parameter, or its kernel module is not loaded); set apply_live: false to only persist it", s.Name, s.procPath())
		}
		if err != nil {
			return p, fmt.Errorf("sysctl %s: %w", s.Name, err)
		}
		if fields(string(cur)) != fields(s.Value) {
			if err := writable(sys, s.procPath()); err != nil {
				return p, s.liveError(err)
			}
			p.Add(s.Name, fields(string(cur)), fields(s.Value))
			data.setLive = true
		}
	}
	if s.State == "present" {
		s.warnOverrides(sys, &p)
	}
	if !p.Empty() {
		p.Data = data
	}
	return p, nil
}

// writable asks the kernel whether the file could be written, without
// writing: access(2) says EROFS on a read-only /proc/sys.
func writable(sys *tasks.System, p string) error {
	hp, err := sys.Path(p)
	if err != nil {
		return err
	}
	return unix.Access(hp, unix.W_OK)
}

func (s *Sysctl) liveError(err error) error {
	var why string
	switch {
	case errors.Is(err, syscall.EROFS):
		why = "/proc/sys is read-only here (a container?)"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		why = "permission denied (not root, or a container without the privilege)"
	default:
		why = err.Error()
	}
	return fmt.Errorf("sysctl %s: cannot set the running value: %s; the setting can still be persisted with apply_live: false and takes effect at boot", s.Name, why)
}

// warnOverrides warns when a file read after ours at boot sets the same
// parameter to another value.
func (s *Sysctl) warnOverrides(sys *tasks.System, p *tasks.Plan) {
	dirs := []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}
	byName := map[string]string{} // file name -> path of the copy that counts
	for _, d := range dirs {
		entries, _ := sys.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".conf") {
				continue
			}
			if _, seen := byName[e.Name()]; !seen {
				byName[e.Name()] = filepath.Join(d, e.Name())
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	order := make([]string, 0, len(names)+1)
	for _, n := range names {
		order = append(order, byName[n])
	}
	order = append(order, "/etc/sysctl.conf")
	mine := -1
	for i, f := range order {
		if f == s.File {
			mine = i
		}
	}
	if mine < 0 { // our file does not exist yet: place it by name
		mine = sort.SearchStrings(names, filepath.Base(s.File)) - 1
	}
	seen := map[string]bool{}
	if hp, err := sys.Path(s.File); err == nil {
		if real, err := filepath.EvalSymlinks(hp); err == nil {
			seen[real] = true // links to our own file say what we write
		}
	}
	for _, f := range order[mine+1:] {
		if f == s.File || filepath.Base(f) == filepath.Base(s.File) && s.File != "/etc/sysctl.conf" {
			continue // ours, or a copy that ours masks
		}
		hp, err := sys.Path(f)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(hp); err == nil {
			if seen[real] { // /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf
				continue
			}
			seen[real] = true
		}
		data, err := sys.ReadFile(f)
		if err != nil {
			continue
		}
		if other, ok := settingIn(string(data), s.Name); ok && fields(other) != fields(s.Value) {
			p.Warn(fmt.Sprintf("%s sets %s = %s and is read after %s at boot, so it wins there", f, s.Name, other, s.File))
		}
	}
}

// settingIn returns the last value a file assigns to name.
func settingIn(content, name string) (string, bool) {
	val, found := "", false
	for _, l := range strings.Split(content, "\n") {
		if k, v, ok := parseLine(l); ok && k == name {
			val, found = v, true
		}
	}
	return val, found
}

// Apply writes the file and the running value.
func (s *Sysctl) Apply(_ context.Context, sys *tasks.System, p tasks.Plan) error {
	data, ok := p.Data.(sysctlPlan)
	if !ok {
		return errors.New("sysctl: plan has no data")
	}
	if data.write {
		if data.createDir {
			if err := sys.FS().MkdirAll(filepath.Dir(s.File), 0o755, 0, 0); err != nil {
				return err
			}
		}
		attrs := tasks.KeepOwner
		if data.newFile {
			attrs = tasks.FileAttrs{Mode: 0o644, UID: 0, GID: 0}
		}
		if err := sys.WriteFile(s.File, []byte(data.content), attrs, ""); err != nil {
			return err
		}
	}
	if data.setLive {
		if err := sys.FS().Overwrite(s.procPath(), []byte(s.Value+"\n")); err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
				return s.liveError(err)
			}
			return fmt.Errorf("sysctl %s: write %s: %w", s.Name, s.procPath(), err)
		}
	}
	return nil
}

var _ tasks.Task = (*Sysctl)(nil)
var _ tasks.Validator = (*Sysctl)(nil)
