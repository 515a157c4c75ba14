package engine_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	_ "github.com/provision-tool/provision/tasks/all"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// BenchmarkNoopRootlessPodman measures a no-op re-run of
// examples/rootless-podman.yml on a converged Debian host rooted in a temp
// dir: every task checks and finds nothing to do. The package query is a
// canned dpkg-query answer, so this measures provision itself, not dpkg.
//
//	go test ./engine -run '^$' -bench NoopRootlessPodman -benchmem
func BenchmarkNoopRootlessPodman(b *testing.B) {
	sys, run := taskstest.New(b)
	taskstest.WriteFile(b, sys, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
	taskstest.WriteFile(b, sys, "/usr/bin/apt-get", "")
	taskstest.WriteFile(b, sys, "/proc/sys/kernel/osrelease", "6.1.0-25-amd64\n")
	taskstest.WriteFile(b, sys, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"+
		"alice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
	taskstest.WriteFile(b, sys, "/etc/group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\n")
	taskstest.WriteFile(b, sys, "/etc/containers/.keep", "")
	// What the doctor task's static checks look at.
	taskstest.WriteFile(b, sys, "/proc/sys/user/max_user_namespaces", "63704\n")
	for _, p := range []string{"/usr/bin/podman", "/usr/bin/newuidmap", "/usr/bin/newgidmap"} {
		taskstest.WriteFile(b, sys, p, "")
		mode := os.FileMode(0o755)
		if p != "/usr/bin/podman" {
			mode |= os.ModeSetuid
		}
		if err := os.Chmod(sys.MustPath(p), mode); err != nil {
			b.Fatal(err)
		}
	}
	run.On("dpkg-query", func(c tasks.Cmd) tasks.Result {
		var out strings.Builder
		for _, name := range c.Argv[3:] {
			out.WriteString(name + "\tamd64\tinstall ok installed\t1.0\n")
		}
		return tasks.Result{Stdout: out.String()}
	})
	pb, err := playbook.Load("../examples/rootless-podman.yml")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	counts, err := engine.Run(ctx, pb, sys, engine.Options{})
	if err != nil || counts.Failed > 0 {
		b.Fatalf("converging run: %v %+v", err, counts)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var events int
		counts, err := engine.Run(ctx, pb, sys, engine.Options{Sink: report.SinkFunc(func(report.Event) { events++ })})
		if err != nil || counts.Changed+counts.Failed != 0 || counts.OK != 8 {
			b.Fatalf("no-op run: %v %+v", err, counts)
		}
	}
}
