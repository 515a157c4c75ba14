package files

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/hostfs"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "file",
		Summary: "manage a file, directory or symlink and its mode, owner and group, or make sure a path is absent",
		Doc: `The file module manages one path on the host, chosen by ` + "`state`" + `:

- ` + "`file`" + ` (the default): a regular file. With ` + "`content`" + ` the file is
  created or rewritten atomically (temp file, fsync, rename) to hold exactly
  that text. Without ` + "`content`" + ` the file must already exist, and only its
  mode, owner and group are managed, as in Ansible.
- ` + "`directory`" + `: a directory. Missing parents are created too, with
  mode 0755; only the last directory gets ` + "`mode`" + `, ` + "`owner`" + ` and ` + "`group`" + `.
- ` + "`link`" + `: a symbolic link to ` + "`src`" + `. The link is swapped in
  atomically (a temp link renamed over the path). The target need not exist.
  An existing file, fifo or socket is replaced only with ` + "`force: true`" + `;
  a directory never is.
- ` + "`absent`" + `: the path does not exist. A file, link or empty directory
  is removed; a non-empty directory only with ` + "`force: true`" + `. "/" is
  always refused.

Check compares type, content, mode (as octal, including setuid, setgid and
sticky bits), owner and group, and plans one change for each difference.
Content changes carry the full old and new text so ` + "`--diff`" + ` prints a
unified diff; binary content (not UTF-8, or containing NUL) is shown as size
and SHA-256 instead. Owner and group are user and group names or numbers;
a name the host does not know yet is planned with a warning (an earlier
task may create the account, and check mode should still work), and Apply
fails if it is still unknown then.

New files get mode 0644 and new directories 0755 when ` + "`mode`" + ` is not
given, whatever the agent's umask; existing paths keep their mode unless
` + "`mode`" + ` is given. Missing parents of a file or link are not created: Check warns
(so that check mode can still show a file whose directory an earlier task
only plans to create) and Apply fails naming the parent unless it exists by
then. Create it with ` + "`state: directory`" + ` first.
A symlink at ` + "`path`" + ` is never followed: state file with content replaces
it with a regular file, state directory refuses it.`,
		Example: `- name: configuration directory
  file:
    path: /etc/containers/registries.conf.d
    state: directory
    mode: "0755"
- name: a small file
  file:
    path: /etc/motd
    content: |
      managed by provision
    mode: "0644"
- name: point current at the new release
  file:
    path: /opt/app/current
    state: link
    src: /opt/app/releases/42
- name: no stale drop-in
  file:
    path: /etc/containers/registries.conf.d/old.conf
    state: absent`,
		New: func() tasks.Task { return new(File) },
	})
}

// File manages one path: a regular file, a directory, a symlink, or its
// absence.
type File struct {
	Path    string  `yaml:"path" required:"true" doc:"absolute path to manage"`
	State   string  `yaml:"state" default:"file" enum:"file,directory,link,absent" doc:"file, directory, link or absent"`
	Content *string `yaml:"content" doc:"state file: the file's exact content; when unset the file must exist and only its attributes are managed"`
	Src     string  `yaml:"src" doc:"state link: the link's target (relative targets are relative to the link's directory)"`
	Mode    string  `yaml:"mode" doc:"octal mode such as \"0640\"; unset keeps an existing path's mode (new files 0644, directories 0755)"`
	Owner   string  `yaml:"owner" doc:"user name or UID; unset keeps the owner (root for new paths)"`
	Group   string  `yaml:"group" doc:"group name or GID; unset keeps the group"`
	Force   bool    `yaml:"force" default:"false" doc:"state absent: remove a non-empty directory and everything in it; state link: replace an existing file"`
}

var states = map[string]bool{"file": true, "directory": true, "link": true, "absent": true}

func (f *File) state() string {
	if f.State == "" {
		return "file"
	}
	return f.State
}

// Validate implements tasks.Validator.
func (f *File) Validate() error {
	if err := validatePath("path", f.Path, true); err != nil {
		return err
	}
	st := f.state()
	if !states[st] {
		return tasks.BadArg("state", fmt.Sprintf("unknown state %q (want file, directory, link or absent)", f.State))
	}
	if f.Content != nil && st != "file" {
		return tasks.BadArg("content", "only for state file")
	}
	switch {
	case st == "link" && f.Src == "":
		return tasks.BadArg("src", "is required for state link")
	case st != "link" && f.Src != "":
		return tasks.BadArg("src", "only for state link (to copy a file, use the copy module)")
	case st == "link" && f.Mode != "":
		return tasks.BadArg("mode", "a symlink has no mode of its own")
	case st == "absent" && (f.Mode != "" || f.Owner != "" || f.Group != ""):
		return tasks.BadArg("state", "mode, owner and group make no sense for an absent path")
	case f.Force && st != "absent" && st != "link":
		return tasks.BadArg("force", "only for state absent or link")
	case st == "absent" && filepath.Clean(f.Path) == "/":
		return tasks.BadArg("path", "refusing to remove /")
	}
	return validateAttrs(f.Mode, f.Owner, f.Group)
}

// Check implements tasks.Task.
func (f *File) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := f.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	a, err := resolveAttrs(sys, f.Mode, f.Owner, f.Group)
	if err != nil {
		return tasks.Plan{}, err
	}
	p := filepath.Clean(f.Path)
	checked := refusal(sys)
	switch f.state() {
	case "directory":
		return checked(planDir(sys, p, a))
	case "absent":
		return checked(planAbsent(sys, p, f.Force))
	case "link":
		return checked(planLink(sys, p, f.Src, a, f.Force))
	}
	var content []byte
	if f.Content != nil {
		content = append([]byte{}, *f.Content...)
	}
	return checked(planRegular(sys, regularFile{Path: p, Content: content, Attrs: a}))
}

// Apply implements tasks.Task.
func (f *File) Apply(_ context.Context, sys *tasks.System, p tasks.Plan) error {
	return apply(sys, p)
}

func planDir(sys *tasks.System, p string, a attrs) (tasks.Plan, error) {
	var plan tasks.Plan
	o := &op{Kind: opAttrs, Path: p, UID: -1, GID: -1}
	fi, err := sys.Lstat(p)
	switch {
	case missing(err):
		if err := checkAncestor(sys, p); err != nil {
			return plan, err
		}
		o.Kind = opMkdir
		plan.Add("state", "absent", "directory")
		planAttrs(sys, &plan, o, nil, a)
	case err != nil:
		return plan, err
	case !fi.IsDir():
		return plan, fmt.Errorf("%s exists and is a %s, not a directory", p, hostfs.Kind(fi))
	default:
		planAttrs(sys, &plan, o, fi, a)
	}
	if !plan.Empty() {
		plan.Data = o
	}
	return plan, nil
}

// checkAncestor makes sure the nearest existing ancestor of p is a
// directory, so that MkdirAll can succeed.
func checkAncestor(sys *tasks.System, p string) error {
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		fi, err := sys.Stat(d)
		if missing(err) && d != "/" {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("cannot create %s: %s is a %s", p, d, hostfs.Kind(fi))
		}
		return nil
	}
}

func planAbsent(sys *tasks.System, p string, force bool) (tasks.Plan, error) {
	var plan tasks.Plan
	fi, err := sys.Lstat(p)
	if missing(err) {
		return plan, nil
	}
	if err != nil {
		return plan, err
	}
	o := &op{Kind: opRemove, Path: p, UID: -1, GID: -1}
	if fi.IsDir() {
		entries, err := sys.ReadDir(p)
		if err != nil {
			return plan, err
		}
		if len(entries) > 0 {
			if !force {
				return plan, fmt.Errorf("%s is a non-empty directory (set force: true to remove it and everything in it)", p)
			}
			o.Kind = opRemoveAll
		}
	}
	plan.Add("state", hostfs.Kind(fi), "absent")
	plan.Data = o
	return plan, nil
}

func planLink(sys *tasks.System, p, target string, a attrs, force bool) (tasks.Plan, error) {
	var plan tasks.Plan
	o := &op{Kind: opLink, Path: p, Target: target, UID: -1, GID: -1}
	fi, err := sys.Lstat(p)
	switch {
	case missing(err):
		warnParent(sys, &plan, p)
		plan.Add("state", "absent", "link")
		plan.Add("target", "", target)
		planAttrs(sys, &plan, o, nil, a)
	case err != nil:
		return plan, err
	case fi.Mode()&fs.ModeSymlink != 0:
		cur, err := sys.FS().Readlink(p)
		if err != nil {
			return plan, err
		}
		if cur != target {
			plan.Add("target", cur, target)
			planAttrs(sys, &plan, o, fi, a)
			// The new link needs the wanted owner even where the old one
			// had it already, and keeps the old owner where none is wanted
			// (and we may chown).
			uid, gid := tasks.FileOwner(fi)
			switch {
			case a.UID >= 0:
				o.UID = a.UID
			case os.Geteuid() == 0:
				o.UID = uid
			}
			switch {
			case a.GID >= 0:
				o.GID = a.GID
			case os.Geteuid() == 0:
				o.GID = gid
			}
		} else {
			o.Kind = opAttrs
			planAttrs(sys, &plan, o, fi, a)
		}
	case fi.IsDir():
		return plan, fmt.Errorf("%s is a directory; refusing to replace it with a link", p)
	default:
		if !force {
			return plan, fmt.Errorf("%s is a %s (set force: true to replace it with a link)", p, hostfs.Kind(fi))
		}
		plan.Add("state", hostfs.Kind(fi), "link")
		plan.Add("target", "", target)
		planAttrs(sys, &plan, o, nil, a)
	}
	if !plan.Empty() {
		plan.Data = o
	}
	return plan, nil
}

var _ tasks.Task = (*File)(nil)
