// Package containers holds the modules that configure the containers
// stack for rootless Podman: the registries.conf drop-in (registries),
// storage.conf (storage) and the per-user namespace refresh after subuid
// changes (podman_migrate).
package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/provision-tool/provision/diag"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/containers/podmanconf"
)

// ManagedHeader is the first line of every file this package renders whole.
const ManagedHeader = "# Managed by provision; local changes will be overwritten\n"

// DefaultRegistriesDropIn is where the registries module writes by default.
const DefaultRegistriesDropIn = "/etc/containers/registries.conf.d/50-provision.conf"

// Registries writes a registries.conf drop-in in the v2 format.
type Registries struct {
	Path                        string            `yaml:"path" default:"/etc/containers/registries.conf.d/50-provision.conf" doc:"the drop-in to write; must be a .conf file directly in a registries.conf.d directory"`
	UnqualifiedSearchRegistries []string          `yaml:"unqualified_search_registries" doc:"host[:port] entries tried in order for short image names; empty leaves the value of earlier files"`
	ShortNameMode               string            `yaml:"short_name_mode" enum:",enforcing,permissive,disabled" doc:"enforcing, permissive or disabled; empty leaves the value of earlier files"`
	Registries                  []Registry        `yaml:"registries" doc:"[[registry]] entries, matched by longest prefix"`
	Aliases                     map[string]string `yaml:"aliases" doc:"short name to fully-qualified image name; an empty value erases an alias from earlier files"`
}

// Registry is one [[registry]] table of registries.conf.
type Registry struct {
	Prefix   string   `yaml:"prefix" doc:"image name prefix this entry applies to (host[:port][/namespace...] or *.example.com); defaults to location"`
	Location string   `yaml:"location" doc:"where to pull from (host[:port][/namespace...]); may be empty only with a *.example.com prefix"`
	Insecure bool     `yaml:"insecure" doc:"allow plain HTTP and unverified TLS"`
	Blocked  bool     `yaml:"blocked" doc:"refuse pulls that match the prefix"`
	Mirrors  []Mirror `yaml:"mirrors" doc:"mirrors tried in order before location"`
}

// Mirror is one [[registry.mirror]] table of registries.conf.
type Mirror struct {
	Location       string `yaml:"location" required:"true" doc:"the mirror (host[:port][/namespace...])"`
	Insecure       bool   `yaml:"insecure" doc:"allow plain HTTP and unverified TLS for this mirror"`
	PullFromMirror string `yaml:"pull_from_mirror" enum:",all,digest-only,tag-only" doc:"all, digest-only or tag-only; empty means all"`
}

func init() {
	tasks.Register(tasks.Module{
		Name:    "registries",
		Summary: "write a registries.conf v2 drop-in for podman, buildah and skopeo",
		Doc: `Writes one drop-in file (by default
/etc/containers/registries.conf.d/50-provision.conf) in the v2 format of
containers-registries.conf(5), rendered with a TOML encoder, so the
package-owned /etc/containers/registries.conf is never edited and survives
package updates. The whole file is managed: it starts with a "Managed by
provision" comment, and local edits are replaced.

Arguments are validated as containers/image does: search registries must be
host[:port] (no http:// or https://), a wildcard prefix must look like
*.example.com, a registry needs a location unless its prefix is a wildcard,
every mirror needs a location, and one location cannot be both insecure and
secure (or blocked and not blocked). Aliases map short names (no registry
part, no tag) to fully-qualified names without tag or digest. Then the
rendered drop-in is loaded with podman's own loader, which has the last
word: what it refuses is a bad argument ("podman would refuse the drop-in:
...").

Check renders the file and compares it byte for byte with the one on disk
(the change carries the path, so --diff shows a unified diff), together with
mode 0644 and owner root:root. It then loads the main registries.conf beside
the drop-in directory and every *.conf drop-in there, with this task's file
as it will be written, through the loader podman itself links
(containers/image's sysregistriesv2, the release podman 5 uses), and fails
the task when podman would refuse a file, with podman's message and the
position of TOML errors: a main file that mixes v1 and v2 keys ("mixing
sysregistry v1/v2 is not supported", even when the v1 arrays are empty), a
drop-in in the v1 format ("registry must be in v2 format but is in v1"), a
short-name-mode, search registry, prefix, mirror or alias podman rejects. A
main file that is only v1 still works, with a warning that the format is
deprecated.

Podman merges the drop-ins in file name order and a later file wins: a
[[registry]] with the same prefix replaces the whole entry,
unqualified-search-registries and short-name-mode replace earlier values
when set (an empty list too), an alias is replaced or erased (""). Check
warns, per setting of this task's drop-in, when a file read after it (say
99-local.conf) changes what podman uses, naming that file and the
effective value, for example: "... short-name-mode is overridden by
/etc/containers/registries.conf.d/99-local.conf; podman uses "disabled"".
The task still converges its own file; the warning, in the report and in
the JSON event's warnings, says the setting does not take effect until
the later file is changed. A later file that says the same is not
reported.

Apply creates the directory (0755) when missing and writes the file
atomically.

A per-user ~/.config/containers/registries.conf replaces the system file
and its drop-ins entirely for that user, and a user's
~/.config/containers/registries.conf.d drop-ins come after the system ones;
the task does not read users' files (doctor check 16 and 17 do).`,
		Example: `- name: search registries and a mirror for Docker Hub
  registries:
    unqualified_search_registries: [registry.fedoraproject.org, docker.io]
    short_name_mode: enforcing
    registries:
      - prefix: docker.io
        location: docker.io
        mirrors:
          - location: mirror.example.com/dockerhub
            pull_from_mirror: digest-only
      - location: registry.internal.example.com:5000
        insecure: true
    aliases:
      myapp: registry.internal.example.com:5000/team/myapp`,
		New: func() tasks.Task { return new(Registries) },
	})
}

// Validate checks the arguments without touching the host.
func (r *Registries) Validate() error {
	if err := checkUTF8Args(r); err != nil {
		return err
	}
	if r.Path == "" {
		r.Path = DefaultRegistriesDropIn
	}
	if !filepath.IsAbs(r.Path) || filepath.Clean(r.Path) != r.Path {
		return tasks.BadArg("path", "must be a clean absolute path")
	}
	if filepath.Base(filepath.Dir(r.Path)) != "registries.conf.d" {
		return tasks.BadArg("path", "must be in a registries.conf.d directory, which podman reads drop-ins from")
	}
	if !strings.HasSuffix(r.Path, ".conf") || filepath.Base(r.Path) == ".conf" {
		return tasks.BadArg("path", "must end in .conf; podman ignores other files")
	}
	for _, s := range r.UnqualifiedSearchRegistries {
		if err := checkSearchRegistry(s); err != nil {
			return tasks.BadArg("unqualified_search_registries", err.Error())
		}
	}
	switch r.ShortNameMode {
	case "", "enforcing", "permissive", "disabled":
	default:
		return tasks.BadArg("short_name_mode", fmt.Sprintf("%q is not enforcing, permissive or disabled", r.ShortNameMode))
	}
	prefixes := map[string]bool{}
	type flags struct{ insecure, blocked bool }
	byLocation := map[string]flags{}
	for i, reg := range r.Registries {
		if err := checkRegistry(reg); err != nil {
			return tasks.BadArg("registries", fmt.Sprintf("entry %d: %v", i+1, err))
		}
		prefix := reg.Prefix
		if prefix == "" {
			prefix = reg.Location
		}
		if prefixes[prefix] {
			return tasks.BadArg("registries", fmt.Sprintf("entry %d: prefix %q is defined twice; podman would ignore the second entry", i+1, prefix))
		}
		prefixes[prefix] = true
		key := reg.Location
		if key == "" {
			key = prefix
		}
		if f, ok := byLocation[key]; ok {
			if f.insecure != reg.Insecure {
				return tasks.BadArg("registries", fmt.Sprintf("registry '%s' is defined multiple times with conflicting 'insecure' setting", key))
			}
			if f.blocked != reg.Blocked {
				return tasks.BadArg("registries", fmt.Sprintf("registry '%s' is defined multiple times with conflicting 'blocked' setting", key))
			}
		}
		byLocation[key] = flags{reg.Insecure, reg.Blocked}
	}
	names := make([]string, 0, len(r.Aliases))
	for name := range r.Aliases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := checkShortName(name); err != nil {
			return tasks.BadArg("aliases", err.Error())
		}
		if v := r.Aliases[name]; v != "" {
			if err := checkAliasValue(v); err != nil {
				return tasks.BadArg("aliases", fmt.Sprintf("alias %q: %v", name, err))
			}
		}
	}
	return r.validateWithPodman()
}

// validateWithPodman loads the drop-in the arguments render with podman's
// own loader: the checks above name the argument, this one is the
// authority (it refuses, say, a search registry "[::1]:5000" that the
// grammar above lets through).
func (r *Registries) validateWithPodman() error {
	content, err := r.Render()
	if err != nil {
		return err
	}
	_, err = podmanconf.LoadRegistries([]podmanconf.File{{Path: r.Path, Data: content, DropIn: true}})
	if err == nil {
		return nil
	}
	msg := err.Error()
	var le *podmanconf.LoadError
	if errors.As(err, &le) {
		msg = le.Msg
	}
	arg := "registries"
	switch {
	case strings.Contains(msg, "unqualified-search-registries"):
		arg = "unqualified_search_registries"
	case strings.Contains(msg, "short-name mode"):
		arg = "short_name_mode"
	case strings.Contains(msg, "alias"):
		arg = "aliases"
	}
	return tasks.BadArg(arg, "podman would refuse the drop-in: "+msg)
}

// domainRe is the host[:port] grammar of containers/image's
// reference.DomainRegexp, which unqualified-search-registries must match.
var domainRe = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)

// hostRe is domainRe without the port, for wildcard prefixes.
var hostRe = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$`)

// pathComponentRe is one lower-case repository path component of the
// distribution reference grammar.
var pathComponentRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

func hasScheme(s string) bool { return strings.Contains(s, "://") }

func checkSearchRegistry(s string) error {
	if hasScheme(s) {
		return fmt.Errorf("invalid location '%s': URI schemes are not supported", s)
	}
	if !domainRe.MatchString(s) {
		return fmt.Errorf("invalid unqualified-search-registries entry %q: want host[:port], with no namespace", s)
	}
	return nil
}

// checkLocation checks a registry or mirror location or a non-wildcard
// prefix: host[:port] followed by optional /path components, and for a
// prefix an optional :tag or @digest.
func checkLocation(what, s string, prefix bool) error {
	if hasScheme(s) {
		return fmt.Errorf("invalid %s '%s': URI schemes are not supported", what, s)
	}
	if strings.ContainsAny(s, " \t\r\n\"'\\") {
		return fmt.Errorf("invalid %s %q: contains whitespace or quotes", what, s)
	}
	if strings.HasSuffix(s, "/") {
		return fmt.Errorf("invalid %s %q: remove the trailing slash", what, s)
	}
	if strings.Contains(s, "*") {
		return fmt.Errorf("invalid %s %q: a wildcard is only allowed as a prefix of the form *.example.com", what, s)
	}
	rest := s
	if prefix {
		if i := strings.IndexByte(rest, '@'); i >= 0 {
			rest = rest[:i]
		}
	}
	host, path, _ := strings.Cut(rest, "/")
	if !domainRe.MatchString(host) {
		return fmt.Errorf("invalid %s %q: %q is not host[:port]", what, s, host)
	}
	if path == "" {
		return nil
	}
	comps := strings.Split(path, "/")
	if prefix {
		last := comps[len(comps)-1]
		if i := strings.IndexByte(last, ':'); i >= 0 {
			comps[len(comps)-1] = last[:i]
		}
	}
	for _, c := range comps {
		if !pathComponentRe.MatchString(c) {
			return fmt.Errorf("invalid %s %q: %q is not a valid repository path component (lower case letters, digits, separators)", what, s, c)
		}
	}
	return nil
}

func checkRegistry(reg Registry) error {
	wildcard := strings.HasPrefix(reg.Prefix, "*.")
	switch {
	case wildcard:
		if strings.ContainsAny(reg.Prefix, "/@:") || !hostRe.MatchString(reg.Prefix[2:]) {
			return fmt.Errorf("wildcarded prefix should be in the format: *.example.com. Current prefix %q is incorrectly formatted", reg.Prefix)
		}
	case reg.Prefix != "":
		if err := checkLocation("prefix", reg.Prefix, true); err != nil {
			return err
		}
	}
	if reg.Location == "" {
		if reg.Prefix == "" {
			return errors.New("invalid condition: both location and prefix are unset")
		}
		if !wildcard {
			return errors.New("invalid condition: location is unset and prefix is not in the format: *.example.com")
		}
	} else if err := checkLocation("location", reg.Location, false); err != nil {
		return err
	}
	for j, m := range reg.Mirrors {
		if m.Location == "" {
			return fmt.Errorf("mirror %d: invalid condition: mirror location is unset", j+1)
		}
		if err := checkLocation("mirror location", m.Location, false); err != nil {
			return fmt.Errorf("mirror %d: %v", j+1, err)
		}
		switch m.PullFromMirror {
		case "", "all", "digest-only", "tag-only":
		default:
			return fmt.Errorf("mirror %d: unsupported pull-from-mirror value %q for mirror %q (want all, digest-only or tag-only)", j+1, m.PullFromMirror, m.Location)
		}
	}
	return nil
}

// hasRegistry reports whether the first component of an image name names a
// registry, as the reference grammar decides: it contains a dot or a
// colon, or is localhost.
func hasRegistry(name string) bool {
	first, _, found := strings.Cut(name, "/")
	return found && (strings.ContainsAny(first, ".:") || first == "localhost")
}

func checkRepoPath(name, path string) error {
	for _, c := range strings.Split(path, "/") {
		if !pathComponentRe.MatchString(c) {
			return fmt.Errorf("invalid name %q: %q is not a valid repository path component", name, c)
		}
	}
	return nil
}

func checkShortName(name string) error {
	if strings.Contains(name, "@") {
		return fmt.Errorf("invalid short name %q: must not contain digest", name)
	}
	if hasRegistry(name) {
		return fmt.Errorf("invalid short name %q: must not contain registry", name)
	}
	if strings.Contains(name, ":") {
		return fmt.Errorf("invalid short name %q: must not contain tag", name)
	}
	return checkRepoPath(name, name)
}

func checkAliasValue(v string) error {
	if strings.Contains(v, "@") {
		return fmt.Errorf("invalid alias %q: must not contain digest", v)
	}
	if hasScheme(v) {
		return fmt.Errorf("invalid alias %q: URI schemes are not supported", v)
	}
	if !hasRegistry(v) {
		return fmt.Errorf("invalid alias %q: must contain registry and repository", v)
	}
	host, path, _ := strings.Cut(v, "/")
	if strings.Contains(path, ":") {
		return fmt.Errorf("invalid alias %q: must not contain tag", v)
	}
	if !domainRe.MatchString(host) {
		return fmt.Errorf("invalid alias %q: %q is not host[:port]", v, host)
	}
	return checkRepoPath(v, path)
}

// v2File is the subset of the v2 format this module writes, in the order
// it is written.
type v2File struct {
	UnqualifiedSearchRegistries []string          `toml:"unqualified-search-registries,omitempty"`
	ShortNameMode               string            `toml:"short-name-mode,omitempty"`
	Registry                    []v2Registry      `toml:"registry,omitempty"`
	Aliases                     map[string]string `toml:"aliases,omitempty"`
}

type v2Registry struct {
	Prefix   string     `toml:"prefix,omitempty"`
	Location string     `toml:"location,omitempty"`
	Insecure bool       `toml:"insecure,omitempty"`
	Blocked  bool       `toml:"blocked,omitempty"`
	Mirror   []v2Mirror `toml:"mirror,omitempty"`
}

type v2Mirror struct {
	Location       string `toml:"location"`
	Insecure       bool   `toml:"insecure,omitempty"`
	PullFromMirror string `toml:"pull-from-mirror,omitempty"`
}

func (r *Registries) model() v2File {
	f := v2File{
		UnqualifiedSearchRegistries: r.UnqualifiedSearchRegistries,
		ShortNameMode:               r.ShortNameMode,
	}
	if len(r.Aliases) > 0 {
		f.Aliases = r.Aliases
	}
	for _, reg := range r.Registries {
		v := v2Registry{Prefix: reg.Prefix, Location: reg.Location, Insecure: reg.Insecure, Blocked: reg.Blocked}
		for _, m := range reg.Mirrors {
			v.Mirror = append(v.Mirror, v2Mirror(m))
		}
		f.Registry = append(f.Registry, v)
	}
	return f
}

// Render returns the drop-in's content. It proves the result is v2 and
// says what was asked by decoding it again; a failure is a bug.
func (r *Registries) Render() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(ManagedHeader)
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	want := r.model()
	if err := enc.Encode(want); err != nil {
		return nil, fmt.Errorf("render registries drop-in: %w", err)
	}
	keys, err := registriesKeys(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("render registries drop-in: bug: output does not parse: %w", err)
	}
	if len(keys.v1) > 0 {
		return nil, fmt.Errorf("render registries drop-in: bug: output has v1 keys %v", keys.v1)
	}
	var got v2File
	if _, err := toml.Decode(b.String(), &got); err != nil {
		return nil, fmt.Errorf("render registries drop-in: bug: %w", err)
	}
	if fmt.Sprintf("%#v", normalizeModel(got)) != fmt.Sprintf("%#v", normalizeModel(want)) {
		return nil, fmt.Errorf("render registries drop-in: bug: output decodes to %+v, want %+v", got, want)
	}
	return b.Bytes(), nil
}

func normalizeModel(f v2File) v2File {
	if len(f.UnqualifiedSearchRegistries) == 0 {
		f.UnqualifiedSearchRegistries = nil
	}
	if len(f.Aliases) == 0 {
		f.Aliases = nil
	}
	if len(f.Registry) == 0 {
		f.Registry = nil
	}
	for i := range f.Registry {
		if len(f.Registry[i].Mirror) == 0 {
			f.Registry[i].Mirror = nil
		}
	}
	return f
}

// regKeys lists which v1 and v2 settings a registries.conf sets, as
// containers/image decides it: a key that is present counts even when its
// array is empty (containers/image#1753).
type regKeys struct {
	v1, v2 []string
}

var v2TopKeys = []string{"unqualified-search-registries", "short-name-mode", "registry", "aliases", "credential-helpers", "additional-layer-store-auth-helper"}

func registriesKeys(data []byte) (regKeys, error) {
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		return regKeys{}, err
	}
	var k regKeys
	if v1, ok := m["registries"].(map[string]any); ok {
		for _, sub := range []string{"search", "insecure", "block"} {
			if t, ok := v1[sub].(map[string]any); ok {
				if _, ok := t["registries"]; ok {
					k.v1 = append(k.v1, "[registries."+sub+"] registries")
				}
			}
		}
	}
	for _, key := range v2TopKeys {
		v, ok := m[key]
		if !ok {
			continue
		}
		if s, isString := v.(string); isString && s == "" {
			continue // an empty string decodes to the zero value: unset
		}
		k.v2 = append(k.v2, key)
	}
	return k, nil
}

// regPlan is what Apply needs.
type regPlan struct {
	content  []byte
	mkdir    bool
	writeAll bool
}

// Check compares the rendered drop-in with the host and checks the other
// registries files for what would make podman fail.
func (r *Registries) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if err := r.Validate(); err != nil {
		return p, err
	}
	content, err := r.Render()
	if err != nil {
		return p, err
	}
	dir := filepath.Dir(r.Path)
	if err := checkOtherRegistriesFiles(sys, r.Path, content, &p); err != nil {
		return p, err
	}
	data := regPlan{content: content}
	if st, err := sys.Stat(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return p, err
		}
		p.Add("directory", "", dir)
		data.mkdir = true
	} else if !st.IsDir() {
		return p, fmt.Errorf("%s is not a directory", dir)
	}
	old, exists, err := sys.ReadFileIfExists(r.Path)
	if err != nil {
		return p, err
	}
	if !exists {
		p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: r.Path, After: string(content)})
		data.writeAll = true
		p.Data = data
		return p, nil
	}
	if !bytes.Equal(old, content) {
		p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: r.Path, Before: string(old), After: string(content)})
	}
	st, err := sys.Lstat(r.Path)
	if err != nil {
		return p, err
	}
	if !st.Mode().IsRegular() {
		return p, fmt.Errorf("%s is not a regular file", r.Path)
	}
	if mode := uint32(st.Mode().Perm()) | specialBits(st.Mode()); mode != 0o644 {
		p.Add("mode", fmt.Sprintf("%04o", mode), "0644")
	}
	if os.Geteuid() == 0 { // only root can give files away; as a user there is nothing to converge
		if uid, gid := tasks.FileOwner(st); uid != 0 || gid != 0 {
			p.Add("owner", fmt.Sprintf("%d:%d", uid, gid), "0:0")
		}
	}
	if !p.Empty() {
		data.writeAll = true
	}
	p.Data = data
	return p, nil
}

func specialBits(m fs.FileMode) uint32 {
	var s uint32
	if m&fs.ModeSetuid != 0 {
		s |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		s |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		s |= 0o1000
	}
	return s
}

// checkOtherRegistriesFiles loads, with podman's own loader, the main
// registries.conf that goes with the drop-in directory and every drop-in
// in it, the task's own as it will be written. It fails when podman would
// refuse one of them, and warns about every setting of the task's drop-in
// that a file read after it overrides, with the value podman uses.
func checkOtherRegistriesFiles(sys *tasks.System, dropIn string, content []byte, p *tasks.Plan) error {
	dir := filepath.Dir(dropIn)
	main := filepath.Join(filepath.Dir(dir), "registries.conf")
	var files []podmanconf.File
	if data, exists, err := sys.ReadFileIfExists(main); err != nil {
		return err
	} else if exists {
		if len(data) > podmanconf.MaxFileSize {
			return fmt.Errorf("%s: larger than %d bytes", main, podmanconf.MaxFileSize)
		}
		files = append(files, podmanconf.File{Path: main, Data: data})
		if k, err := registriesKeys(data); err == nil && len(k.v1) > 0 && len(k.v2) == 0 {
			p.Warn(fmt.Sprintf("%s uses the deprecated v1 format (%s); podman still reads it, but only v2 supports mirrors and prefixes", main, strings.Join(k.v1, ", ")))
		}
	}
	dropIns, err := podmanconf.DropIns(sys, dir)
	if err != nil {
		return err
	}
	own := podmanconf.File{Path: dropIn, Data: content, DropIn: true}
	dropIns = slices.DeleteFunc(dropIns, func(f podmanconf.File) bool { return f.Path == dropIn })
	at, _ := slices.BinarySearchFunc(dropIns, dropIn, func(f podmanconf.File, name string) int { return strings.Compare(f.Path, name) })
	dropIns = slices.Insert(dropIns, at, own)
	ownIdx := len(files) + at
	files = append(files, dropIns...)
	if _, err := podmanconf.LoadRegistries(files); err != nil {
		var errs []error
		for _, le := range podmanconf.RefusedFiles(files) {
			errs = append(errs, le)
		}
		if len(errs) == 0 {
			return err
		}
		return diag.Join(errs...)
	}
	overrides, err := podmanconf.Overrides(files, ownIdx)
	if err != nil {
		return err
	}
	for _, o := range overrides {
		p.Warn(fmt.Sprintf("%s: %s (a file read after %s wins; change or remove it)", dropIn, o, dropIn))
	}
	return nil
}

// Apply writes the drop-in.
func (r *Registries) Apply(_ context.Context, sys *tasks.System, p tasks.Plan) error {
	data, ok := p.Data.(regPlan)
	if !ok {
		return errors.New("registries: plan has no rendered content")
	}
	if data.mkdir {
		if err := sys.FS().MkdirAll(filepath.Dir(r.Path), 0o755, 0, 0); err != nil {
			return err
		}
	}
	if !data.writeAll {
		return nil
	}
	return sys.WriteFile(r.Path, data.content, tasks.FileAttrs{Mode: 0o644, UID: 0, GID: 0}, "")
}

var _ tasks.Task = (*Registries)(nil)
var _ tasks.Validator = (*Registries)(nil)
