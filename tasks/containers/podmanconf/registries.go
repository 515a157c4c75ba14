// Package podmanconf reads registries.conf and storage.conf the way
// podman reads them, with the containers libraries podman links
// (go.podman.io/image/v5/pkg/sysregistriesv2 and go.podman.io/storage's
// config types), from files read through the project's hostfs layer.
//
// The libraries open files by path themselves, and would follow links out
// of the host root. So this package never hands them a host path: the
// caller reads the files (tasks.System, which resolves every path inside
// its root), and this package copies the bytes into a private temporary
// directory, lets the library load that copy, and maps the copy's names
// back to the host paths in every message.
package podmanconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/BurntSushi/toml"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"
)

// Bounds on what is read: podman has none, provision refuses more.
const (
	MaxFileSize = 1 << 20 // bytes of one configuration file
	MaxDropIns  = 512     // drop-in files of one configuration
)

// SystemRegistries and SystemRegistriesDir are the system-wide
// registries.conf and its drop-in directory.
const (
	SystemRegistries    = "/etc/containers/registries.conf"
	SystemRegistriesDir = "/etc/containers/registries.conf.d"
)

// Reader reads host files; *tasks.System is one.
type Reader interface {
	ReadFileIfExists(p string) ([]byte, bool, error)
	ReadDir(p string) ([]fs.DirEntry, error)
}

// File is one registries.conf file podman reads, with its content.
type File struct {
	Path   string // the host path, as messages name it
	Data   []byte
	DropIn bool // a drop-in: must be v2; the main file may be v1
}

// RegistriesFiles lists the files podman reads for a user whose home is
// home ("" for none), in podman's order (containers-registries.conf(5),
// domain.md §2.3): the user's ~/.config/containers/registries.conf if it
// exists, replacing the system file and its drop-ins, else the system file
// (it may be missing) followed by /etc/containers/registries.conf.d/*.conf;
// then the user's registries.conf.d/*.conf; each directory in name order.
func RegistriesFiles(r Reader, home string) (main string, files []File, err error) {
	main = SystemRegistries
	dirs := []string{SystemRegistriesDir}
	if home != "" {
		userDir := path.Join(home, ".config/containers")
		userMain := path.Join(userDir, "registries.conf")
		data, ok, err := readBounded(r, userMain)
		if err != nil {
			return "", nil, err
		}
		if ok {
			main, dirs = userMain, nil
			files = append(files, File{Path: userMain, Data: data})
		}
		dirs = append(dirs, path.Join(userDir, "registries.conf.d"))
	}
	if main == SystemRegistries {
		data, ok, err := readBounded(r, SystemRegistries)
		if err != nil {
			return "", nil, err
		}
		if ok {
			files = append(files, File{Path: SystemRegistries, Data: data})
		}
	}
	for _, d := range dirs {
		more, err := DropIns(r, d)
		if err != nil {
			return "", nil, err
		}
		files = append(files, more...)
	}
	return main, files, nil
}

// DropIns reads the *.conf files directly in dir, in name order, as
// podman does (subdirectories and other names are skipped; a missing
// directory or a dangling link is no file).
func DropIns(r Reader, dir string) ([]File, error) {
	entries, err := r.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading registries.conf.d: %w", err)
	}
	var out []File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		if len(out) == MaxDropIns {
			return nil, fmt.Errorf("%s: more than %d drop-in files", dir, MaxDropIns)
		}
		p := path.Join(dir, e.Name())
		data, ok, err := readBounded(r, p)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, File{Path: p, Data: data, DropIn: true})
		}
	}
	return out, nil
}

func readBounded(r Reader, p string) ([]byte, bool, error) {
	data, ok, err := r.ReadFileIfExists(p)
	if err != nil {
		return nil, false, err
	}
	if len(data) > MaxFileSize {
		return nil, false, fmt.Errorf("%s: larger than %d bytes", p, MaxFileSize)
	}
	return data, ok, nil
}

// Registries is the configuration podman computes from a list of files.
type Registries struct {
	// Search is the effective unqualified-search-registries; SearchFrom
	// the file that set it ("" when none did: an empty list set by a file
	// still names it).
	Search     []string
	SearchFrom string
	// ShortNameMode is enforcing, permissive or disabled (podman's
	// default, permissive, when no file sets it).
	ShortNameMode string
	// Registry holds the merged [[registry]] tables, sorted by prefix,
	// with the prefix filled in as podman does.
	Registry []sysregistriesv2.Registry
	// Aliases are the effective short-name aliases (erased ones absent).
	Aliases map[string]string
}

// FindRegistry returns the merged [[registry]] whose prefix is prefix.
func (c *Registries) FindRegistry(prefix string) (sysregistriesv2.Registry, bool) {
	for _, r := range c.Registry {
		if r.Prefix == prefix {
			return r, true
		}
	}
	return sysregistriesv2.Registry{}, false
}

// LoadError is a file podman refuses, with podman's message and, for TOML
// syntax and type errors, the position in the file.
type LoadError struct {
	Path      string
	Line, Col int    // 0 when unknown
	Msg       string // podman's message, naming the host path
	DropIn    bool
}

func (e *LoadError) Error() string {
	if e.Line > 0 && e.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Line, e.Col, e.Msg)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// libMu serialises use of sysregistriesv2, whose cache is global.
var libMu sync.Mutex

// LoadRegistries computes what podman makes of files (in the order
// RegistriesFiles returns them; the first may be the main file, the others
// must be drop-ins). The error, a *LoadError, is the one podman reports
// for the first file it refuses.
func LoadRegistries(files []File) (*Registries, error) {
	return loaded.load(files, loadRegistries)
}

// loadRegistries is LoadRegistries without the cache: it stages the files
// in a private temp dir and loads them with the library.
func loadRegistries(files []File) (*Registries, error) {
	sweepOnce.Do(sweepStale)
	tmp, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", tmpPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ctx, names, err := stage(tmp, files)
	if err != nil {
		return nil, err
	}
	libMu.Lock()
	defer libMu.Unlock()
	defer sysregistriesv2.InvalidateCache()
	v2, err := sysregistriesv2.TryUpdatingCache(ctx)
	if err != nil {
		return nil, loadError(err, files, names)
	}
	mode, err := sysregistriesv2.GetShortNameMode(ctx)
	if err != nil {
		return nil, loadError(err, files, names)
	}
	search, origin, err := sysregistriesv2.UnqualifiedSearchRegistriesWithOrigin(ctx)
	if err != nil {
		return nil, loadError(err, files, names)
	}
	c := &Registries{Search: search, ShortNameMode: modeName(mode), Registry: v2.Registries, Aliases: mergeAliases(files)}
	for i, n := range names {
		if n == origin && v2.UnqualifiedSearchRegistries != nil {
			c.SearchFrom = files[i].Path
		}
	}
	return c, nil
}

// tmpPrefix starts the name of the private copies; the process id follows.
const tmpPrefix = "provision-registries-"

var sweepOnce sync.Once

// sweepStale removes the copies of processes that were killed while they
// held one (a run ended by SIGKILL): a copy whose process no longer
// exists and that is this user's own (ownCopy). Once per process; a copy
// whose pid was reused stays.
func sweepStale() {
	dir := os.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tmpPrefix)
		if !ok || !e.IsDir() || !ownCopy(e) {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// ownCopy tells a copy this user made (a directory of its own, mode
// 0700, as MkdirTemp makes it) from anything another user put in /tmp
// under the same name, which the sweep leaves alone.
func ownCopy(e fs.DirEntry) bool {
	fi, err := e.Info()
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// stage writes the files into tmp as the library wants them: the main file
// as registries.conf (an empty one when there is none, which podman reads
// the same as a missing default file) and the drop-ins, numbered in
// order, in registries.conf.d.
func stage(tmp string, files []File) (*types.SystemContext, []string, error) {
	ctx := &types.SystemContext{
		SystemRegistriesConfPath:    filepath.Join(tmp, "registries.conf"),
		SystemRegistriesConfDirPath: filepath.Join(tmp, "registries.conf.d"),
	}
	if err := os.Mkdir(ctx.SystemRegistriesConfDirPath, 0o700); err != nil {
		return nil, nil, err
	}
	names := make([]string, len(files))
	var mainData []byte
	for i, f := range files {
		if !f.DropIn {
			if i != 0 {
				return nil, nil, fmt.Errorf("bug: main registries file %s is not first", f.Path)
			}
			names[i], mainData = ctx.SystemRegistriesConfPath, f.Data
			continue
		}
		names[i] = filepath.Join(ctx.SystemRegistriesConfDirPath, fmt.Sprintf("%04d.conf", i))
		if err := os.WriteFile(names[i], f.Data, 0o600); err != nil {
			return nil, nil, err
		}
	}
	if err := os.WriteFile(ctx.SystemRegistriesConfPath, mainData, 0o600); err != nil {
		return nil, nil, err
	}
	return ctx, names, nil
}

// loadError turns the library's error into a LoadError naming the host
// file.
func loadError(err error, files []File, names []string) error {
	msg := err.Error()
	le := &LoadError{Msg: msg}
	for i, n := range names {
		if n != "" && strings.Contains(msg, n) {
			le.Path, le.DropIn = files[i].Path, files[i].DropIn
		}
		if n != "" {
			msg = strings.ReplaceAll(msg, n, files[i].Path)
		}
	}
	le.Msg = msg
	if le.Path == "" {
		return fmt.Errorf("registries configuration: %s", msg)
	}
	le.Line, le.Col = position(err)
	return le
}

// tomlLineRe finds the line of a TOML decoding error that is not a
// toml.ParseError (a value of the wrong type).
var tomlLineRe = regexp.MustCompile(`toml: line ([0-9]+)`)

// position returns where a TOML error is: line and column of a syntax
// error, the line of a type error, or zeros.
func position(err error) (line, col int) {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return pe.Position.Line, pe.Position.Col
	}
	if m := tomlLineRe.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return line, 0
}

func modeName(m types.ShortNameMode) string {
	switch m {
	case types.ShortNameModeDisabled:
		return "disabled"
	case types.ShortNameModeEnforcing:
		return "enforcing"
	default:
		return "permissive"
	}
}

// mergeAliases merges the [aliases] tables as podman does: a later file
// wins, "" erases. It is called only after the library accepted every
// file, so each table decodes.
func mergeAliases(files []File) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		var doc struct {
			Aliases map[string]string `toml:"aliases"`
		}
		if _, err := toml.Decode(string(f.Data), &doc); err != nil {
			continue
		}
		for k, v := range doc.Aliases {
			if v == "" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
	}
	return out
}

// AliasNames returns the names of m, sorted.
func AliasNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Override is a setting of one file that a file podman reads later
// changes, so that podman does not use what the first file says.
type Override struct {
	Setting   string // e.g. unqualified-search-registries, [[registry]] prefix "docker.io"
	By        string // the last file that changed it
	Effective string // what podman uses instead
}

func (o Override) String() string {
	return fmt.Sprintf("%s is overridden by %s; podman uses %s", o.Setting, o.By, o.Effective)
}

// Overrides reports the settings of files[own] that the files after it
// change, computed by loading the files up to each later one with the
// library.
func Overrides(files []File, own int) ([]Override, error) {
	if own < 0 || own >= len(files) {
		return nil, fmt.Errorf("bug: file %d of %d", own, len(files))
	}
	if own == len(files)-1 {
		return nil, nil // no file comes after it
	}
	keys, err := settingsOf(files[own])
	if err != nil {
		return nil, err
	}
	prev, err := LoadRegistries(files[:own+1])
	if err != nil {
		return nil, err
	}
	base := prev
	by := map[string]string{}
	for j := own + 1; j < len(files); j++ {
		cur, err := LoadRegistries(files[:j+1])
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.value(cur) != k.value(prev) {
				by[k.name] = files[j].Path
			}
		}
		prev = cur
	}
	var out []Override
	for _, k := range keys {
		if v := k.value(prev); v != k.value(base) {
			out = append(out, Override{Setting: k.name, By: by[k.name], Effective: v})
		}
	}
	return out, nil
}

// setting is one thing a file sets, and how to show its effective value.
type setting struct {
	name  string
	value func(*Registries) string
}

// settingsOf lists what f sets, as the library reads it.
func settingsOf(f File) ([]setting, error) {
	f.DropIn = true
	alone, err := LoadRegistries([]File{f})
	if err != nil {
		return nil, err
	}
	var doc struct {
		Mode    string            `toml:"short-name-mode"`
		Aliases map[string]string `toml:"aliases"`
	}
	if _, err := toml.Decode(string(f.Data), &doc); err != nil {
		return nil, err
	}
	var out []setting
	if alone.SearchFrom != "" {
		out = append(out, setting{"unqualified-search-registries", func(c *Registries) string {
			return fmt.Sprintf("%q (from %s)", c.Search, c.SearchFrom)
		}})
	}
	if doc.Mode != "" {
		out = append(out, setting{"short-name-mode", func(c *Registries) string { return fmt.Sprintf("%q", c.ShortNameMode) }})
	}
	for _, r := range alone.Registry {
		prefix := r.Prefix
		out = append(out, setting{fmt.Sprintf("[[registry]] prefix %q", prefix), func(c *Registries) string {
			got, ok := c.FindRegistry(prefix)
			if !ok {
				return "no such [[registry]]"
			}
			return DescribeRegistry(got)
		}})
	}
	for _, name := range AliasNames(doc.Aliases) {
		out = append(out, setting{fmt.Sprintf("alias %q", name), func(c *Registries) string {
			if v, ok := c.Aliases[name]; ok {
				return fmt.Sprintf("%q", v)
			}
			return "no alias (erased)"
		}})
	}
	return out, nil
}

// DescribeRegistry renders a merged [[registry]] in one line.
func DescribeRegistry(r sysregistriesv2.Registry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "location %q", r.Location)
	if r.Insecure {
		b.WriteString(", insecure")
	}
	if r.Blocked {
		b.WriteString(", blocked")
	}
	if r.MirrorByDigestOnly {
		b.WriteString(", mirror-by-digest-only")
	}
	for _, m := range r.Mirrors {
		fmt.Fprintf(&b, ", mirror %q", m.Location)
		if m.Insecure {
			b.WriteString(" insecure")
		}
		if m.PullFromMirror != "" {
			b.WriteString(" " + m.PullFromMirror)
		}
	}
	return b.String()
}

// RefusedFiles loads each file on its own, as podman would load it among
// the others, and returns the *LoadError of every file podman refuses
// (podman itself stops at the first). Every check of podman's is about one
// file, so files refused nowhere else are refused here too.
func RefusedFiles(files []File) []*LoadError {
	var out []*LoadError
	for _, f := range files {
		if _, err := LoadRegistries([]File{f}); err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				le = &LoadError{Path: f.Path, Msg: err.Error(), DropIn: f.DropIn}
			}
			out = append(out, le)
		}
	}
	return out
}
