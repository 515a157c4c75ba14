// Package agent is the host side of a remote run: the controller sends a
// Bundle (the playbook, the files it references, the host's variables and
// the run's options) over one SSH session to this same binary started as
// `provision agent`, which runs it with the engine and streams the events
// back as JSON Lines.
package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
	"github.com/provision-tool/provision/playbook"
)

// BundleVersion is the version of the Bundle format.
const BundleVersion = 1

// Bundle is everything a host needs to run a playbook on its own.
type Bundle struct {
	Version int `json:"version"`
	// Playbook is the playbook's file name as the user gave it (for
	// messages); PlaybookID identifies it in the host's pending-handler
	// state (the controller's absolute path).
	Playbook   string `json:"playbook"`
	PlaybookID string `json:"playbook_id"`
	Source     []byte `json:"source"`
	// Files are the files copy and template tasks read, by path relative
	// to the playbook's directory.
	Files     map[string][]byte `json:"files,omitempty"`
	Host      string            `json:"host"`
	HostVars  map[string]any    `json:"host_vars,omitempty"`
	ExtraVars map[string]any    `json:"extra_vars,omitempty"`
	Check     bool              `json:"check,omitempty"`
	NoVerify  bool              `json:"no_verify,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	SkipTags  []string          `json:"skip_tags,omitempty"`
	// StartAtTask skips the tasks before the first with this name.
	StartAtTask string `json:"start_at_task,omitempty"`
	// StateDir and LockPath, when set, are the host's state directory and
	// run lock (engine.Options); "" keeps the defaults.
	StateDir string `json:"state_dir,omitempty"`
	LockPath string `json:"lock_path,omitempty"`
	// Plays says, for each play's hosts pattern, whether it selects this
	// host; the controller decides it from the inventory. Nil selects
	// plays for all, localhost and the host's own name.
	Plays map[string]bool `json:"plays,omitempty"`
	// Image runs the host as an image being built (tasks.System.Image):
	// set by the chroot transport.
	Image bool `json:"image,omitempty"`
	// Vaulted are the playbook's decrypted `!vault` values by position
	// (playbook.Playbook.Vaulted): the host gets the plaintexts it needs,
	// never the vault password.
	Vaulted map[string]string `json:"vaulted,omitempty"`
	// RolesPath is the playbook's roles path (playbook.Playbook.RolesPath).
	RolesPath []string `json:"roles_path,omitempty"`
	// Play, when above 0, runs only that play (engine.Options.Play);
	// RunOnceHosts name the host that runs each play's run_once tasks.
	Play         int      `json:"play,omitempty"`
	RunOnceHosts []string `json:"run_once_hosts,omitempty"`
}

// sourceModules are the modules whose `src` is a file beside the playbook.
var sourceModules = map[string]bool{"copy": true, "template": true}

// CollectFiles returns the files a playbook's copy and template tasks
// read, relative to the playbook's directory. A literal src is read as
// given; when a src is templated, everything under files/ and templates/
// beside the playbook is included, since the value is known only on the
// host.
func CollectFiles(pb *playbook.Playbook) (map[string][]byte, error) {
	files := map[string][]byte{}
	add := func(rel string) error {
		if filepath.IsAbs(rel) {
			return fmt.Errorf("src %s: remote hosts need a src relative to the playbook", rel)
		}
		clean := filepath.Clean(rel)
		if strings.HasPrefix(clean, "..") {
			return fmt.Errorf("src %s: must stay inside the playbook's directory", rel)
		}
		data, err := input.ReadFileLimit(filepath.Join(pb.Dir, clean), input.MaxFileSize)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(clean)] = data
		return nil
	}
	for rel, data := range pb.Sources {
		files[rel] = data // imported task and vars files, as parsed
	}
	templated, err := literalSources(pb, func(v *yaml.Node) error { return add(v.Value) })
	if err != nil {
		return nil, err
	}
	if templated {
		for _, dir := range []string{"files", "templates"} {
			root := filepath.Join(pb.Dir, dir)
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						return filepath.SkipDir
					}
					return err
				}
				if d.Type().IsRegular() {
					rel, _ := filepath.Rel(pb.Dir, p)
					return add(rel)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}

// literalSources calls fn for the src of each copy and template task that
// is not templated, and reports whether any src is templated. Errors
// come back at the src's position.
func literalSources(pb *playbook.Playbook, fn func(v *yaml.Node) error) (templated bool, err error) {
	for _, play := range pb.Plays {
		for _, t := range append(append([]*playbook.Task{}, play.Tasks...), play.Handlers...) {
			if !sourceModules[t.Module] || t.Args == nil || t.Args.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(t.Args.Content); i += 2 {
				k, v := t.Args.Content[i], t.Args.Content[i+1]
				switch {
				case k.Value != "src" || v.Kind != yaml.ScalarNode:
				case playbook.HasTemplate(v.Value):
					templated = true
				default:
					if err := fn(v); err != nil {
						return false, fmt.Errorf("%s:%d:%d: %w", pb.File, v.Line, v.Column, err)
					}
				}
			}
		}
	}
	return templated, nil
}

// CheckSources refuses, before a local run, a literal copy or template src
// that exists but is not a regular file (a FIFO would block the run, a
// device would never end).
func CheckSources(pb *playbook.Playbook) error {
	_, err := literalSources(pb, func(v *yaml.Node) error {
		path := v.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(pb.Dir, path)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil // the module says what is missing, on the host
		}
		return input.Regular(v.Value, st)
	})
	return err
}

// unpack writes the bundle's playbook and files into dir.
func (b *Bundle) unpack(dir string) (string, error) {
	for rel, data := range b.Files {
		clean := filepath.Clean(filepath.FromSlash(rel))
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return "", fmt.Errorf("bundle file %q escapes the run directory", rel)
		}
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}
