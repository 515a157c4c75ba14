package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/provision-tool/provision/playbook"
	_ "github.com/provision-tool/provision/tasks/all"
)

// TestCollectFilesRefusesFIFO: a FIFO as a copy source must be refused,
// not block the controller.
func TestCollectFilesRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "motd"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "p.yml")
	src := "- hosts: all\n  tasks:\n    - copy: {src: motd, dest: /etc/motd}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = CollectFiles(pb)
	if err == nil || !strings.Contains(err.Error(), "motd: not a regular file: it is a FIFO") {
		t.Errorf("CollectFiles: %v", err)
	}
}

// TestBundleCarriesImports: an agent gets the sample repository's
// imported files and role files in its bundle and parses the playbook from
// its run directory alone.
func TestBundleCarriesImports(t *testing.T) {
	sample, err := filepath.Abs("../cmd/provision/testdata/ansible/podman.yml")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Load(sample)
	if err != nil {
		t.Fatal(err)
	}
	files, err := CollectFiles(pb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vars/main.yml", "roles/podman_users/tasks/main.yml",
		"roles/podman_users/tasks/subids.yml", "roles/podman_users/defaults/main.yml",
		"roles/podman_users/handlers/main.yml", "roles/podman_users/templates/subid.j2"} {
		if files[want] == nil {
			t.Errorf("bundle lacks %s", want)
		}
	}
	src, _ := os.ReadFile(sample)
	b := &Bundle{Playbook: "/nowhere/podman.yml", Source: src, Files: files}
	dir, err := b.unpack(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	remote, err := playbook.ParseVaultDir(b.Playbook, b.Source, nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(remote.Plays[0].Tasks), len(pb.Plays[0].Tasks); got != want {
		t.Errorf("agent sees %d tasks, controller %d", got, want)
	}
}

// TestBundleCarriesRolesPath: a role found through the roles path
// (ansible.cfg roles_path) and a templated notify reach the agent, which
// reads the same plays from its bundle.
func TestBundleCarriesRolesPath(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"site.yml":                        "- hosts: '{{ group }}'\n  roles: [common]\n",
		"shared/common/tasks/main.yml":    "- {command: {argv: [\"true\"]}, notify: 'say {{ word }}'}\n",
		"shared/common/handlers/main.yml": "- {name: say hi, debug: {msg: hi}}\n",
		"shared/common/defaults/main.yml": "word: hi\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]any{"group": "web"}
	pb, err := playbook.LoadOptions(filepath.Join(dir, "site.yml"), playbook.Options{RolesPath: []string{"shared"}, Vars: vars})
	if err != nil {
		t.Fatal(err)
	}
	files, err := CollectFiles(pb)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(filepath.Join(dir, "site.yml"))
	b := &Bundle{Playbook: "/nowhere/site.yml", Source: src, Files: files, RolesPath: pb.RolesPath, ExtraVars: vars}
	run, err := b.unpack(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	remote, err := playbook.ParseOptions(b.Playbook, b.Source, playbook.Options{Dir: run, RolesPath: b.RolesPath, Vars: b.ExtraVars})
	if err != nil {
		t.Fatal(err)
	}
	p := remote.Plays[0]
	if p.Hosts != "web" || len(p.Tasks) != 1 || len(p.Tasks[0].Notify) != 1 || p.Tasks[0].Notify[0] != "say hi" || len(p.Handlers) != 1 {
		t.Errorf("agent sees hosts %q, %d tasks, handlers %d, notify %q", p.Hosts, len(p.Tasks), len(p.Handlers), p.Tasks[0].Notify)
	}
}
