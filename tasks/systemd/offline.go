package systemd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/hostfs"
)

// Offline enablement: what `systemctl --root=DIR enable|disable|mask` does
// to the files, done through sys so it works in an image root and in tests.
// The links are those the unit's [Install] section names: WantedBy= gives
// CONFIG/TARGET.wants/NAME, RequiredBy= CONFIG/TARGET.requires/NAME,
// UpheldBy= CONFIG/TARGET.upholds/NAME, Alias= CONFIG/ALIAS, and Also=
// enables the units it lists the same way. Each link points at the unit
// file where it was found (for example /lib/systemd/system/x.service).

// link is one symlink of an enablement.
type link struct {
	Path   string // host path of the link, absolute
	Target string // what it points to
}

// linkOp is one change to links, decided by Check and done by Apply.
type linkOp struct {
	Remove bool
	Link   link
	// Owner of a user scope's links and the directories made for them.
	UID, GID int
	// User is the account the links are changed for (nil: root).
	User *hostfs.User
}

// unitFile is a unit file found on the search path.
type unitFile struct {
	Path string // where it was found (the link target for enabling)
	Real string // Path with symlinks resolved inside the root
}

// resolve follows symlinks of p inside the system's root (an absolute
// target is taken relative to the root, as systemctl --root does). It
// returns the final path, or an error when it does not exist.
func resolve(sys *tasks.System, p string) (string, error) {
	p = resolveDirs(sys, path.Clean(p))
	for i := 0; i < 16; i++ {
		fi, err := sys.Lstat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		t, err := sys.FS().Readlink(p)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(p), t)
		}
		if t == "/dev/null" {
			return t, nil
		}
		// A symlinked parent directory (/lib -> usr/lib) is resolved by
		// resolveDirs below.
		p = resolveDirs(sys, path.Clean(t))
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

// resolveDirs resolves symlinks among the parent directories of p inside
// the root, so that /lib/systemd/system/x on a merged-/usr tree reads
// /usr/lib/systemd/system/x of the tree rather than of this machine.
func resolveDirs(sys *tasks.System, p string) string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := path.Join(cur, part)
		if i < len(parts)-1 {
			for j := 0; j < 16; j++ {
				fi, err := sys.Lstat(next)
				if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					break
				}
				t, err := sys.FS().Readlink(next)
				if err != nil {
					break
				}
				if !path.IsAbs(t) {
					t = path.Join(path.Dir(next), t)
				}
				next = path.Clean(t)
			}
		}
		cur = next
	}
	return cur
}

// splitInstance splits foo@bar.service into the template foo@.service and
// the instance bar.
func splitInstance(name string) (template, instance string) {
	at := strings.Index(name, "@")
	if at < 0 {
		return "", ""
	}
	ext := path.Ext(name)
	inst := strings.TrimSuffix(name[at+1:], ext)
	return name[:at+1] + ext, inst
}

// maskedOffline reports whether the config directory links name to
// /dev/null.
func maskedOffline(sys *tasks.System, sc scope, name string) bool {
	t, err := resolve(sys, path.Join(configDir(sc), name))
	return err == nil && t == "/dev/null"
}

// findUnitFile finds name's unit file on the scope's search path (passing
// over a mask), or the template's for an instance.
func findUnitFile(sys *tasks.System, sc scope, name string) (f unitFile, found bool, err error) {
	names := []string{name}
	if tmpl, inst := splitInstance(name); tmpl != "" && inst != "" {
		names = append(names, tmpl)
	}
	for _, n := range names {
		for _, dir := range unitPaths(sc) {
			p := path.Join(dir, n)
			real, err := resolve(sys, p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return unitFile{}, false, err
			}
			if real == "/dev/null" {
				continue
			}
			return unitFile{Path: p, Real: real}, true, nil
		}
	}
	return unitFile{}, false, nil
}

// install is a unit's [Install] section.
type install struct {
	WantedBy, RequiredBy, UpheldBy, Alias, Also []string
	DefaultInstance                             string
}

func (i install) empty() bool {
	return len(i.WantedBy)+len(i.RequiredBy)+len(i.UpheldBy)+len(i.Alias)+len(i.Also) == 0
}

// readInstall parses the [Install] section of a unit file with
// go-systemd's unit parser.
func readInstall(sys *tasks.System, sc scope, f unitFile) (install, error) {
	data, err := sc.files(sys).ReadFile(f.Real)
	if err != nil {
		return install{}, err
	}
	sections, err := unit.DeserializeSections(strings.NewReader(string(data)))
	if err != nil {
		return install{}, fmt.Errorf("parse %s: %w", f.Path, err)
	}
	var in install
	for _, s := range sections {
		if s.Section != "Install" {
			continue
		}
		for _, e := range s.Entries {
			vals := strings.Fields(e.Value)
			switch e.Name {
			case "WantedBy":
				in.WantedBy = append(in.WantedBy, vals...)
			case "RequiredBy":
				in.RequiredBy = append(in.RequiredBy, vals...)
			case "UpheldBy":
				in.UpheldBy = append(in.UpheldBy, vals...)
			case "Alias":
				in.Alias = append(in.Alias, vals...)
			case "Also":
				in.Also = append(in.Also, vals...)
			case "DefaultInstance":
				in.DefaultInstance = strings.TrimSpace(e.Value)
			}
		}
	}
	return in, nil
}

// expandSpecifiers expands the specifiers systemctl expands in [Install]
// values: %n (full name), %N (without suffix), %p (prefix), %i (instance),
// %j (last prefix component) and %%. Others are an error.
func expandSpecifiers(v, name string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	ext := path.Ext(name)
	full := strings.TrimSuffix(name, ext)
	prefix, inst := full, ""
	if at := strings.Index(full, "@"); at >= 0 {
		prefix, inst = full[:at], full[at+1:]
	}
	j := prefix
	if k := strings.LastIndex(prefix, "-"); k >= 0 {
		j = prefix[k+1:]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 >= len(v) {
			return "", fmt.Errorf("trailing %% in %q", v)
		}
		i++
		switch v[i] {
		case 'n':
			b.WriteString(name)
		case 'N':
			b.WriteString(full)
		case 'p':
			b.WriteString(prefix)
		case 'i':
			b.WriteString(inst)
		case 'j':
			b.WriteString(j)
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("specifier %%%c in %q is not supported offline", v[i], v)
		}
	}
	return b.String(), nil
}

// enableLinks returns the links enabling name (and its Also= units), and
// whether the unit has no [Install] section (static).
func enableLinks(sys *tasks.System, sc scope, name string) (links []link, static bool, err error) {
	seen := map[string]bool{}
	var walk func(n string, top bool) error
	walk = func(n string, top bool) error {
		if seen[n] {
			return nil
		}
		seen[n] = true
		f, found, err := findUnitFile(sys, sc, n)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no unit file for %s in %s", n, strings.Join(unitPaths(sc), " "))
		}
		in, err := readInstall(sys, sc, f)
		if err != nil {
			return err
		}
		if in.empty() {
			if top {
				static = true
			}
			return nil
		}
		linkName := n
		if tmpl, inst := splitInstance(n); tmpl != "" && inst == "" {
			if in.DefaultInstance == "" {
				return fmt.Errorf("%s is a template and has no DefaultInstance=: name an instance", n)
			}
			linkName = strings.TrimSuffix(n, path.Ext(n)) + in.DefaultInstance + path.Ext(n)
		}
		cfg := configDir(sc)
		add := func(targets []string, dir string) error {
			for _, t := range targets {
				t, err := expandSpecifiers(t, linkName)
				if err != nil {
					return fmt.Errorf("%s: %w", f.Path, err)
				}
				links = append(links, link{Path: path.Join(cfg, t+dir, linkName), Target: f.Path})
			}
			return nil
		}
		if err := add(in.WantedBy, ".wants"); err != nil {
			return err
		}
		if err := add(in.RequiredBy, ".requires"); err != nil {
			return err
		}
		if err := add(in.UpheldBy, ".upholds"); err != nil {
			return err
		}
		for _, a := range in.Alias {
			a, err := expandSpecifiers(a, linkName)
			if err != nil {
				return fmt.Errorf("%s: %w", f.Path, err)
			}
			p := path.Join(cfg, a)
			if p == f.Path {
				continue
			}
			links = append(links, link{Path: p, Target: f.Path})
		}
		for _, also := range in.Also {
			also, err := expandSpecifiers(also, linkName)
			if err != nil {
				return fmt.Errorf("%s: %w", f.Path, err)
			}
			if err := walk(also, false); err != nil {
				return fmt.Errorf("also %s: %w", also, err)
			}
		}
		return nil
	}
	if err := walk(name, true); err != nil {
		return nil, false, err
	}
	return links, static, nil
}

// linkOK reports whether the link exists and leads to the same file as its
// wanted target (so /lib/... and /usr/lib/... on a merged-/usr tree agree).
func linkOK(sys *tasks.System, l link) bool {
	fi, err := sys.Lstat(l.Path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return false
	}
	got, err := resolve(sys, l.Path)
	if err != nil {
		return false
	}
	want, err := resolve(sys, l.Target)
	if err != nil {
		return false
	}
	if got == want {
		return true
	}
	a, err1 := sys.Stat(got)
	b, err2 := sys.Stat(want)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// enabledLinksPresent returns the links the unit has in the config
// directory: entries named like the unit (or its aliases) in
// *.wants, *.requires and *.upholds, and alias links to its file.
func enabledLinksPresent(sys *tasks.System, sc scope, name string) ([]link, error) {
	cfg := configDir(sc)
	names := map[string]bool{name: true}
	var aliases []link
	if want, _, err := enableLinks(sys, sc, name); err == nil {
		for _, l := range want {
			base := path.Base(l.Path)
			names[base] = true
			if path.Dir(l.Path) == cfg {
				aliases = append(aliases, l)
			}
		}
	}
	ents, err := sc.files(sys).ReadDir(cfg)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []link
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || !(strings.HasSuffix(n, ".wants") || strings.HasSuffix(n, ".requires") || strings.HasSuffix(n, ".upholds")) {
			continue
		}
		sub, err := sc.files(sys).ReadDir(path.Join(cfg, n))
		if err != nil {
			return nil, err
		}
		for _, s := range sub {
			if names[s.Name()] && s.Type()&fs.ModeSymlink != 0 {
				p := path.Join(cfg, n, s.Name())
				t, _ := sys.FS().Readlink(p)
				out = append(out, link{Path: p, Target: t})
			}
		}
	}
	for _, a := range aliases {
		if linkOK(sys, a) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// ownerOf is the owner of links and directories made for a scope.
func ownerOf(sc scope) (int, int) {
	if sc.user() {
		return int(sc.UID), int(sc.GID)
	}
	return 0, 0
}

// applyLinkOps makes or removes links, creating missing directories (owned
// by the scope's user) and replacing a wrong link atomically.
func applyLinkOps(sys *tasks.System, ops []linkOp) error {
	for _, op := range ops {
		fsys := sys.FS().For(op.User)
		if op.Remove {
			if err := fsys.Remove(op.Link.Path); err != nil {
				return err
			}
			continue
		}
		if err := fsys.MkdirAll(path.Dir(op.Link.Path), 0o755, op.UID, op.GID); err != nil {
			return err
		}
		if err := fsys.Symlink(op.Link.Target, op.Link.Path, op.UID, op.GID); err != nil {
			return err
		}
	}
	return nil
}

// userOf is the account a scope's files are changed for: nil (root) for
// the system manager, else the user with their home.
func userOf(sc scope) *hostfs.User {
	if !sc.user() {
		return nil
	}
	return &hostfs.User{UID: int(sc.UID), GID: int(sc.GID), Home: sc.Home}
}

// offlineEnable plans the link changes for enabled (true/false) offline.
// The change reads "enabled: false -> true" with the links in Data.
func offlineEnable(sys *tasks.System, sc scope, name string, enabled bool) ([]linkOp, bool, error) {
	uid, gid := ownerOf(sc)
	if enabled {
		want, static, err := enableLinks(sys, sc, name)
		if err != nil {
			return nil, false, err
		}
		if static {
			return nil, true, nil
		}
		var ops []linkOp
		for _, l := range want {
			if !linkOK(sys, l) {
				if fi, err := sys.Lstat(l.Path); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
					return nil, false, fmt.Errorf("cannot link %s: a file that is not a symlink is in the way", l.Path)
				}
				ops = append(ops, linkOp{Link: l, UID: uid, GID: gid, User: userOf(sc)})
			}
		}
		return ops, false, nil
	}
	have, err := enabledLinksPresent(sys, sc, name)
	if err != nil {
		return nil, false, err
	}
	var ops []linkOp
	for _, l := range have {
		ops = append(ops, linkOp{Remove: true, Link: l, User: userOf(sc)})
	}
	return ops, false, nil
}

// offlineMask plans masking (a link CONFIG/NAME -> /dev/null) or unmasking.
func offlineMask(sys *tasks.System, sc scope, name string, masked bool) ([]linkOp, error) {
	p := path.Join(configDir(sc), name)
	uid, gid := ownerOf(sc)
	fi, err := sys.Lstat(p)
	isMask := false
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		t, _ := sys.FS().Readlink(p)
		isMask = t == "/dev/null"
	}
	switch {
	case masked && isMask, !masked && !isMask:
		return nil, nil
	case masked && err == nil:
		return nil, fmt.Errorf("cannot mask %s: %s exists (remove the unit file first)", name, p)
	case masked:
		return []linkOp{{Link: link{Path: p, Target: "/dev/null"}, UID: uid, GID: gid, User: userOf(sc)}}, nil
	}
	return []linkOp{{Remove: true, Link: link{Path: p, Target: "/dev/null"}, User: userOf(sc)}}, nil
}

// describeLinks renders link operations for a plan's After value.
func describeLinks(ops []linkOp) string {
	var parts []string
	for _, op := range ops {
		if op.Remove {
			parts = append(parts, "rm "+op.Link.Path)
		} else {
			parts = append(parts, op.Link.Path+" -> "+op.Link.Target)
		}
	}
	return strings.Join(parts, ", ")
}
