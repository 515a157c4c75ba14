package doctor

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/tasks"
	// The modules whose tasks doctor recommends; not tasks/all, which may
	// import this package one day.
	_ "github.com/provision-tool/provision/tasks/containers"
	_ "github.com/provision-tool/provision/tasks/files"
	_ "github.com/provision-tool/provision/tasks/pkg"
	_ "github.com/provision-tool/provision/tasks/sysctl"
	_ "github.com/provision-tool/provision/tasks/users"
)

// decodeTask decodes "module: {args}" with the playbook decoder and
// validates it, as the engine would.
func decodeTask(t *testing.T, module string, args *yaml.Node) {
	t.Helper()
	m, ok := tasks.Lookup(module)
	if !ok {
		t.Errorf("module %s is not registered", module)
		return
	}
	task := m.New()
	if errs := playbook.DecodeArgs(module, args, task, nil); len(errs) > 0 {
		t.Errorf("%s: %v", module, errs)
		return
	}
	if err := playbook.Validate(task); err != nil {
		t.Errorf("%s: %v", module, err)
	}
}

func TestExample(t *testing.T) {
	m, _ := tasks.Lookup("doctor")
	if strings.HasSuffix(m.Summary, ".") || strings.ToLower(m.Summary[:1]) != m.Summary[:1] {
		t.Errorf("summary %q", m.Summary)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(m.Example), &doc); err != nil || doc.Content[0].Kind != yaml.SequenceNode {
		t.Fatalf("example is not a YAML list: %v", err)
	}
	n := 0
	for _, item := range doc.Content[0].Content {
		for i := 0; i+1 < len(item.Content); i += 2 {
			if item.Content[i].Value == "doctor" {
				n++
				decodeTask(t, "doctor", item.Content[i+1])
			}
		}
	}
	if n != 2 {
		t.Errorf("%d doctor tasks in the example", n)
	}
}

// TestFixTasksDecode checks that every task doctor recommends, on a host
// broken in many ways, is a valid task of a registered module (the linger
// module is not written yet).
func TestFixTasksDecode(t *testing.T) {
	var all []Fix
	collect := func(rep Report) {
		for _, r := range rep.Results {
			all = append(all, r.Fix...)
		}
	}
	h := newHost(t)
	h.write("/etc/subuid", "alice:100000:65536\ncarol:150000:100\n")
	h.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\ncarol:x:1002:1002::/home/carol:/bin/bash\n")
	h.write("/proc/sys/user/max_user_namespaces", "0\n")
	h.write("/proc/sys/kernel/osrelease", "4.18.0\n")
	h.remove("/usr/bin/newgidmap")
	h.remove("/usr/bin/slirp4netns")
	h.remove("/usr/lib/podman/netavark")
	h.remove("/var/lib/systemd/linger/alice")
	h.write("/etc/containers/registries.conf", mixedRegistries)
	h.write("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers", "cpu\n")
	h.write("/proc/self/mountinfo", mountinfoGreen+"50 22 0:50 / /home rw,relatime - nfs4 server:/home rw\n")
	h.setInfo("alice", "store.graphDriverName", "vfs")
	h.setInfo("bob", "host.networkBackend", "cni")
	h.setInfo("bob", "registries", map[string]any{})
	h.setInfo("bob", "store.graphStatus.Native Overlay Diff", "false")
	collect(h.doctor(Options{}))
	h.remove("/etc/subuid")
	h.remove("/usr/bin/podman")
	collect(h.doctor(Options{Users: []string{"dave"}}))

	modules := map[string]bool{}
	for _, f := range all {
		if f.Module == "" {
			continue
		}
		modules[f.Module] = true
		if f.Module == "linger" {
			continue
		}
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(f.Task), &doc); err != nil {
			t.Errorf("%q: %v", f.Task, err)
			continue
		}
		decodeTask(t, f.Module, doc.Content[0].Content[1])
	}
	for _, m := range []string{"package", "sysctl", "subid", "user", "podman_migrate", "linger", "copy", "storage", "registries"} {
		if !modules[m] {
			t.Errorf("no %s fix was exercised", m)
		}
	}
}
