package pull

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/provision-tool/provision/agent"
	"github.com/provision-tool/provision/input"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/tasks"
)

// Paths inside an image that pull mode is installed into (Options.Image):
// the image gets its own copy of provision and of the playbook, so the
// booted host corrects its drift from the first boot on.
const (
	ImageBinary      = "/usr/local/bin/provision"
	ImagePlaybookDir = "/etc/provision/pull"
)

// placeInImage copies the binary and the playbook (with the files its copy
// and template tasks read) into the image, and points o at those copies.
func placeInImage(ctx context.Context, sys *tasks.System, res *Result, o *Options) error {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return fmt.Errorf("copy provision into the image: %w", err)
	}
	pb, err := playbook.Load(o.Playbook)
	if err != nil {
		return fmt.Errorf("copy the playbook into the image: %w", err)
	}
	src, err := input.ReadFile(o.Playbook)
	if err != nil {
		return fmt.Errorf("copy the playbook into the image: %w", err)
	}
	extra, err := agent.CollectFiles(pb)
	if err != nil {
		return fmt.Errorf("copy the playbook's files into the image: %w", err)
	}
	book := path.Join(ImagePlaybookDir, filepath.Base(o.Playbook))
	files := []*imageFile{{Path: ImageBinary, Data: bin, Mode: 0o755}, {Path: book, Data: src, Mode: 0o644}}
	for rel, data := range extra {
		files = append(files, &imageFile{Path: path.Join(ImagePlaybookDir, rel), Data: data, Mode: 0o644})
	}
	for _, f := range files {
		if _, err := converge(ctx, sys, res, f); err != nil {
			return fmt.Errorf("%s in the image: %w", f.Path, err)
		}
	}
	o.Binary, o.Playbook = ImageBinary, book
	return nil
}

// imageFile is a root-owned file with fixed content in the image, written
// through the path layer (inside the image whatever its links say).
type imageFile struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes, sha256 %s", len(b), hex.EncodeToString(s[:6]))
}

// Check compares the file's content and mode.
func (f *imageFile) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	old, exists, err := sys.ReadFileIfExists(f.Path)
	if err != nil {
		return p, err
	}
	if !exists || !bytes.Equal(old, f.Data) {
		before := ""
		if exists {
			before = digest(old)
		}
		p.Changes = append(p.Changes, tasks.Change{Field: "file", Path: f.Path, Before: before, After: digest(f.Data)})
		return p, nil
	}
	if st, err := sys.Lstat(f.Path); err == nil && st.Mode().Perm() != f.Mode {
		p.Add("mode of "+f.Path, fmt.Sprintf("%04o", st.Mode().Perm()), fmt.Sprintf("%04o", f.Mode))
	}
	return p, nil
}

// Apply writes the file, creating its directory.
func (f *imageFile) Apply(_ context.Context, sys *tasks.System, _ tasks.Plan) error {
	if err := sys.FS().MkdirAll(path.Dir(f.Path), 0o755, 0, 0); err != nil {
		return err
	}
	return sys.WriteFile(f.Path, f.Data, tasks.FileAttrs{Mode: f.Mode, UID: 0, GID: 0, ReplaceLink: true}, "")
}
