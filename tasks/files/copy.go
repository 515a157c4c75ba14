package files

import (
	"context"
	"os"
	"path/filepath"

	"github.com/provision-tool/provision/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "copy",
		Summary: "copy a file from the controller, or write given content, to a file on the host",
		Doc: `The copy module makes ` + "`dest`" + ` a regular file holding the bytes of
` + "`src`" + ` or the text of ` + "`content`" + ` (exactly one of the two), with the
given mode, owner and group.

` + "`src`" + ` is a file on the controller: a relative path is resolved against
the playbook's directory, an absolute one is used as is. Directories are not
copied; copy one file per task.

Check compares content, mode, owner and group and plans one change per
difference. Text content is carried in full so ` + "`--diff`" + ` prints a
unified diff; binary content (not UTF-8, or containing NUL) is summarized by
size and SHA-256. Apply writes the file atomically (temp file in the same
directory, fsync, rename, fsync of the directory); when only mode, owner or
group differ it changes them in place without rewriting the file.

When ` + "`mode`" + ` is not given an existing file keeps its mode and a new one
gets 0644. A symlink at ` + "`dest`" + ` is replaced by a regular file, not
followed, and the plan says so (state: link -> file). A directory at
` + "`dest`" + ` is an error. A missing parent directory is not created: Check
warns, and Apply fails naming it unless an earlier task has created it. The same goes for an owner or group the
host does not know yet.

With ` + "`backup: true`" + `, before the content of an existing file changes
the old file is kept as ` + "`DEST~`" + ` (same mode and owner). Only one
generation is kept: the next change overwrites it.`,
		Example: `- name: registries drop-in from the playbook's directory
  copy:
    src: files/50-mirror.conf
    dest: /etc/containers/registries.conf.d/50-mirror.conf
    mode: "0644"
- name: motd
  copy:
    content: "managed by provision\n"
    dest: /etc/motd
    backup: true`,
		New: func() tasks.Task { return new(Copy) },
	})
}

// Copy writes a controller file or given content to a host file.
type Copy struct {
	Src     string  `yaml:"src" doc:"file on the controller to copy: relative to the playbook's directory, or absolute"`
	Content *string `yaml:"content" doc:"text to write instead of src"`
	Dest    string  `yaml:"dest" required:"true" doc:"absolute path of the file on the host"`
	Mode    string  `yaml:"mode" doc:"octal mode such as \"0640\"; unset keeps an existing file's mode (new files 0644)"`
	Owner   string  `yaml:"owner" doc:"user name or UID; unset keeps the owner (root for new files)"`
	Group   string  `yaml:"group" doc:"group name or GID; unset keeps the group"`
	Backup  bool    `yaml:"backup" default:"false" doc:"keep the old file as DEST~ before changing its content (one generation)"`
}

// Validate implements tasks.Validator.
func (c *Copy) Validate() error {
	return validateSource(c.Src, c.Content, c.Dest, c.Mode, c.Owner, c.Group)
}

// Check implements tasks.Task.
func (c *Copy) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := c.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	var data []byte
	if c.Content != nil {
		data = append([]byte{}, *c.Content...)
	} else {
		var err error
		if data, err = readSource(sys, c.Src); err != nil {
			return tasks.Plan{}, err
		}
	}
	return planDest(sys, c.Dest, data, c.Mode, c.Owner, c.Group, c.Backup)
}

// Apply implements tasks.Task.
func (c *Copy) Apply(_ context.Context, sys *tasks.System, p tasks.Plan) error {
	return apply(sys, p)
}

// validateSource checks the arguments copy and template share.
func validateSource(src string, content *string, dest, mode, owner, group string) error {
	if err := validatePath("dest", dest, true); err != nil {
		return err
	}
	switch {
	case src != "" && content != nil:
		return tasks.BadArg("content", "give src or content, not both")
	case src == "" && content == nil:
		return tasks.BadArg("src", "is required (or give content)")
	}
	if filepath.Clean(dest) == "/" {
		return tasks.BadArg("dest", "must name a file")
	}
	return validateAttrs(mode, owner, group)
}

// readSource reads a controller file: relative paths are relative to the
// playbook's directory (sys.SourceDir). The controller is, for now, the
// machine the agent runs on, so absolute paths are read as they are, not
// under sys.Root.
func readSource(sys *tasks.System, src string) ([]byte, error) {
	p := src
	if !filepath.IsAbs(p) {
		if sys.SourceDir == "" {
			return nil, tasks.BadArg("src", "relative path "+src+" but the playbook's directory is not known")
		}
		p = filepath.Join(sys.SourceDir, p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, tasks.BadArg("src", err.Error())
	}
	if fi.IsDir() {
		return nil, tasks.BadArg("src", p+" is a directory (copy copies one file)")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, tasks.BadArg("src", err.Error())
	}
	return data, nil
}

// planDest is the Check shared by copy and template once the content is
// known.
func planDest(sys *tasks.System, dest string, data []byte, mode, owner, group string, backup bool) (tasks.Plan, error) {
	a, err := resolveAttrs(sys, mode, owner, group)
	if err != nil {
		return tasks.Plan{}, err
	}
	return refusal(sys)(planRegular(sys, regularFile{Path: filepath.Clean(dest), Content: data, Attrs: a, Backup: backup}))
}

var _ tasks.Task = (*Copy)(nil)
