package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/hostfs"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "systemd_unit",
		Summary: "write a systemd unit file, a drop-in or a Podman Quadlet file",
		Doc: `The systemd_unit module writes one unit file, or one drop-in for a
unit, from ` + "`content`" + ` or from the template ` + "`src`" + ` (rendered with the
play's variables, like the template module). The file goes to:

| name | scope system | scope user |
|---|---|---|
| a unit (web.service, web.timer, ...) | /etc/systemd/system/NAME | ~USER/.config/systemd/user/NAME |
| a Quadlet file (.container, .volume, .network, .kube, .pod, .image, .build) | /etc/containers/systemd/NAME | ~USER/.config/containers/systemd/NAME |
| with ` + "`dropin: DROPIN`" + ` | the directory above, NAME.d/DROPIN.conf | the same under the user's home |

or to ` + "`path`" + ` when given. Missing directories are created (owned by the user
for scope user, as are the files). Check compares content and mode and shows
the old and new text with --diff; Apply writes atomically.
` + "`state: absent`" + ` removes the file.

**The module does not run daemon-reload.** It works on files only, so it
works offline (--root on an image) too. The reload happens once, in the first
service task for a unit whose files changed: systemd itself reports the unit's
NeedDaemonReload=yes (a changed Quadlet file marks its generated unit too),
and that task plans and runs ` + "`daemon-reload`" + `, which refreshes every unit
at once; a new Quadlet file's unit is not loaded until the reload, and the
service task reloads for that too. So write the unit files first and manage
the services after them. To restart a unit because its file changed, notify a
handler ` + "`service: {name: NAME, state: restarted}`" + ` from this task.`,
		Example: `# In a play, add notify: restart web to the first two tasks, with the handler
# - name: restart web
#   service: {name: web, state: restarted}
- name: the web service's unit
  systemd_unit:
    name: web.service
    content: |
      [Unit]
      Description=web
      [Service]
      ExecStart=/usr/local/bin/web
      [Install]
      WantedBy=multi-user.target
- name: more memory for it
  systemd_unit:
    name: web.service
    dropin: memory
    content: |
      [Service]
      MemoryMax=1G
- name: alice's container, run by her user manager
  systemd_unit:
    name: web.container
    scope: user
    user: alice
    src: templates/web.container.tmpl`,
		New: func() tasks.Task { return new(Unit) },
	})
}

// Unit is a unit file, drop-in or Quadlet file to write.
type Unit struct {
	Name    string  `yaml:"name" required:"true" doc:"the unit (web.service) or Quadlet file (web.container) the file is, or is a drop-in for"`
	Dropin  string  `yaml:"dropin" doc:"write the drop-in NAME.d/DROPIN.conf instead of the unit file (\".conf\" is added when missing)"`
	Content *string `yaml:"content" doc:"the file's text"`
	Src     string  `yaml:"src" doc:"a template file on the controller, relative to the playbook's directory or absolute, rendered with the play's variables"`
	Path    string  `yaml:"path" doc:"write here instead of the default location (an absolute path)"`
	Scope   string  `yaml:"scope" default:"system" enum:"system,user" doc:"system, or user for the user's own units"`
	User    string  `yaml:"user" doc:"the user whose unit it is, with scope: user"`
	Mode    string  `yaml:"mode" default:"0644" doc:"octal file mode"`
	State   string  `yaml:"state" default:"present" enum:"present,absent" doc:"present, or absent to remove the file"`
}

// Validate implements tasks.Validator.
func (u *Unit) Validate() error {
	if err := validUnitName("name", u.Name, true); err != nil {
		return err
	}
	if u.Dropin != "" && (strings.ContainsAny(u.Dropin, "/\\ \t\n") || strings.HasPrefix(u.Dropin, ".") || strings.HasPrefix(u.Dropin, "-")) {
		return tasks.BadArg("dropin", "is not a drop-in file name: "+u.Dropin)
	}
	switch u.State {
	case "", "present":
		switch {
		case u.Content == nil && u.Src == "":
			return tasks.BadArg("content", "content or src is required")
		case u.Content != nil && u.Src != "":
			return tasks.BadArg("src", "give content or src, not both")
		}
	case "absent":
		if u.Content != nil || u.Src != "" {
			return tasks.BadArg("state", "absent takes no content or src")
		}
	default:
		return tasks.BadArg("state", "must be present or absent, not "+u.State)
	}
	if u.Path != "" && !filepath.IsAbs(u.Path) {
		return tasks.BadArg("path", "must be an absolute path: "+u.Path)
	}
	if _, err := tasks.ParseMode(u.Mode); err != nil {
		return err
	}
	return validScope(u.Scope, u.User)
}

// dest is where the file goes.
func (u *Unit) dest(sc scope) string {
	if u.Path != "" {
		return filepath.Clean(u.Path)
	}
	dir := configDir(sc)
	if isQuadlet(u.Name) {
		dir = quadletDir(sc)
	}
	if u.Dropin == "" {
		return path.Join(dir, u.Name)
	}
	d := u.Dropin
	if !strings.HasSuffix(d, ".conf") {
		d += ".conf"
	}
	return path.Join(dir, u.Name+".d", d)
}

// owner is the account the file is changed for: the scope's user, who
// must keep to their home unless the task gives an explicit path.
func (u *Unit) owner(sc scope) *hostfs.User {
	o := userOf(sc)
	if o != nil && u.Path != "" {
		o.Home = ""
	}
	return o
}

// unitWrite is what Apply does.
type unitWrite struct {
	Path     string
	Remove   bool
	Content  []byte
	Mode     fs.FileMode
	UID, GID int
	// WriteContent is false when only the mode changes.
	WriteContent bool
	// Replan: the user did not exist at Check.
	Replan bool
	// User is the account the file is written for (nil: root); its Home
	// is set when the file goes to the default place in that home.
	User *hostfs.User
}

// Check implements tasks.Task.
func (u *Unit) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := u.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	sc, err := resolveScope(sys, u.Scope, u.User)
	if err != nil {
		return tasks.Plan{}, err
	}
	if u.Scope == "user" && sc.Name == "" && u.Path == "" {
		// An earlier task creates the user (check mode): say where the
		// file goes, relative to the home directory it will have.
		var p tasks.Plan
		p.Warn(fmt.Sprintf("user %s does not exist yet", u.User))
		text := ""
		if u.State != "absent" {
			if text, err = u.content(sys); err != nil {
				return tasks.Plan{}, err
			}
			dest := u.dest(scope{Name: u.User, Home: "/~" + u.User})[1:]
			p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: dest, After: text})
			p.Data = &unitWrite{Replan: true}
		}
		return p, nil
	}
	dest := u.dest(sc)
	if fi, err := sys.Lstat(dest); err == nil && !fi.Mode().IsRegular() {
		return tasks.Plan{}, fmt.Errorf("%s exists and is not a regular file (%s)", dest, fi.Mode().Type())
	}
	old, exists, err := sc.files(sys).ReadFileIfExists(dest)
	if err != nil {
		return tasks.Plan{}, err
	}
	var p tasks.Plan
	if u.State == "absent" {
		if exists {
			p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: dest, Before: string(old), After: ""})
			p.Data = &unitWrite{Path: dest, Remove: true, User: u.owner(sc)}
		}
		return p, nil
	}
	text, err := u.content(sys)
	if err != nil {
		return tasks.Plan{}, err
	}
	mode, _ := tasks.ParseMode(u.Mode)
	if mode == 0 {
		mode = 0o644
	}
	w := &unitWrite{Path: dest, Content: []byte(text), Mode: fs.FileMode(mode)}
	w.UID, w.GID = ownerOf(sc)
	w.User = u.owner(sc)
	if !exists || !bytes.Equal(old, w.Content) {
		p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: dest, Before: string(old), After: text})
		w.WriteContent = true
	}
	if exists {
		fi, err := sys.Stat(dest)
		if err != nil {
			return tasks.Plan{}, err
		}
		if fi.Mode().Perm() != w.Mode {
			p.Add("mode", fmt.Sprintf("%04o", fi.Mode().Perm()), fmt.Sprintf("%04o", w.Mode))
		}
		if uid, gid := tasks.FileOwner(fi); os.Geteuid() == 0 && (uid != w.UID || gid != w.GID) {
			p.Add("owner", fmt.Sprintf("%d:%d", uid, gid), fmt.Sprintf("%d:%d", w.UID, w.GID))
		}
	}
	if p.Empty() {
		return p, nil
	}
	if err := w.fs(sys).CheckChange(dest); err != nil {
		return tasks.Plan{}, err
	}
	p.Data = w
	return p, nil
}

// content is the file's text: content as given, or src rendered.
func (u *Unit) content(sys *tasks.System) (string, error) {
	if u.Content != nil {
		return *u.Content, nil
	}
	if sys.Render == nil {
		return "", errors.New("no template renderer on this system (System.Render is not set)")
	}
	p := u.Src
	if !filepath.IsAbs(p) {
		if sys.SourceDir == "" {
			return "", tasks.BadArg("src", "relative path "+u.Src+" but the playbook's directory is not known")
		}
		p = filepath.Join(sys.SourceDir, p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", tasks.BadArg("src", err.Error())
	}
	out, err := sys.Render(string(data))
	if err != nil {
		return "", fmt.Errorf("render %s: %w", u.Src, err)
	}
	return out, nil
}

// Apply implements tasks.Task.
func (u *Unit) Apply(_ context.Context, sys *tasks.System, p tasks.Plan) error {
	w, ok := p.Data.(*unitWrite)
	if !ok {
		return errors.New("apply without a plan from check")
	}
	if w.Replan {
		if _, ok := sys.Facts.LookupUser(u.User); !ok {
			return fmt.Errorf("no such user %q", u.User)
		}
		again, err := u.Check(context.Background(), sys)
		if err != nil {
			return err
		}
		if again.Empty() {
			return nil
		}
		return u.Apply(context.Background(), sys, again)
	}
	if w.Remove {
		return w.fs(sys).Remove(w.Path)
	}
	if err := w.mkdir(sys); err != nil {
		return err
	}
	if w.WriteContent {
		return sys.WriteFile(w.Path, w.Content, tasks.FileAttrs{Mode: w.Mode, UID: w.UID, GID: w.GID, For: w.User}, "")
	}
	mode := w.Mode
	return w.fs(sys).Chown(w.Path, w.UID, w.GID, &mode)
}

// fs is the host's files as the unit's owner may change them.
func (w *unitWrite) fs(sys *tasks.System) hostfs.FS { return sys.FS().For(w.User) }

// mkdir creates the file's missing directories: for a user's unit, the
// home (as the passwd entry says) and below it the user's own directories.
func (w *unitWrite) mkdir(sys *tasks.System) error {
	dir := path.Dir(w.Path)
	if u := w.User; u != nil && u.Home != "" {
		if err := sys.FS().MkdirAll(path.Dir(u.Home), 0o755, 0, 0); err != nil {
			return err
		}
		owner := &hostfs.User{UID: u.UID, GID: u.GID}
		if err := sys.FS().For(owner).MkdirAll(u.Home, 0o755, u.UID, u.GID); err != nil {
			return err
		}
	}
	return w.fs(sys).MkdirAll(dir, 0o755, w.UID, w.GID)
}

var _ tasks.Task = (*Unit)(nil)
