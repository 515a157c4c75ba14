// Package transporttest is the conformance suite every transport passes:
// the same playbook, run the same way, must give the same results whether
// the engine runs in-process or as an agent over SSH.
package transporttest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/provision-tool/provision/agent"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/transport"
)

// Recorder is a sink that keeps every event.
type Recorder struct {
	mu     sync.Mutex
	Events []report.Event
}

// Emit implements report.Sink.
func (r *Recorder) Emit(e report.Event) {
	r.mu.Lock()
	r.Events = append(r.Events, e)
	r.mu.Unlock()
}

// Statuses renders the task results as "task=status" words.
func (r *Recorder) Statuses() string {
	var out []string
	for _, e := range r.Events {
		if e.Type == report.TaskResult {
			out = append(out, e.Task+"="+e.Status)
		}
	}
	return strings.Join(out, " ")
}

const suitePlaybook = `
- name: conformance
  hosts: all
  tasks:
    - name: conf
      file:
        path: "{{ dir }}/app.conf"
        content: "host={{ inventory_host }}\n"
        mode: "0640"
      notify: reload
    - name: copied
      copy:
        src: files/motd
        dest: "{{ dir }}/motd"
    - name: broken
      file:
        path: "{{ dir }}/missing/dir/x"
        content: "x"
      when: vars.break ?? false
  handlers:
    - name: reload
      file:
        path: "{{ dir }}/reloaded"
        content: "yes\n"
`

// Run runs the suite against the transport and target made by newT. The
// target must be reachable and run tasks as root on a host where dir (a
// fresh directory) is writable; for remote targets, dir is a path on that
// host, readable through readFile. The runs keep their state (pending
// handlers, the run lock) in dir/state, never in the host's own
// /var/lib/provision or /run.
func Run(t *testing.T, tr transport.Transport, target transport.Target, dir string, readFile func(path string) (string, error)) {
	pbDir := t.TempDir()
	os.MkdirAll(filepath.Join(pbDir, "files"), 0o755)
	os.WriteFile(filepath.Join(pbDir, "files", "motd"), []byte("welcome\n"), 0o644)
	pbPath := filepath.Join(pbDir, "site.yml")
	os.WriteFile(pbPath, []byte(suitePlaybook), 0o644)
	pb, err := playbook.Load(pbPath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := agent.CollectFiles(pb)
	if err != nil {
		t.Fatal(err)
	}
	if target.Vars == nil {
		target.Vars = map[string]any{}
	}
	target.Vars["inventory_host"] = target.Name
	job := func(check bool, extra map[string]any) *transport.Job {
		vars := map[string]any{"dir": dir}
		for k, v := range extra {
			vars[k] = v
		}
		return &transport.Job{Playbook: pb, Bundle: agent.Bundle{Version: agent.BundleVersion, Playbook: pbPath,
			PlaybookID: pbPath, Source: []byte(suitePlaybook), Files: files, Check: check, ExtraVars: vars,
			StateDir: dir + "/state", LockPath: dir + "/state/provision.lock"}}
	}
	runJob := func(j *transport.Job) (*Recorder, transport.Result) {
		rec := &Recorder{}
		res := tr.Run(context.Background(), target, j, rec)
		if res.Unreachable {
			t.Fatalf("unreachable: %v", res.Err)
		}
		for _, e := range rec.Events {
			if e.Host != target.Name {
				t.Fatalf("event for host %q, want %q: %+v", e.Host, target.Name, e)
			}
		}
		return rec, res
	}

	t.Run("converge", func(t *testing.T) {
		rec, res := runJob(job(false, nil))
		if res.Err != nil || rec.Statuses() != "conf=changed copied=changed broken=skipped reload=changed" {
			t.Fatalf("%s %v", rec.Statuses(), res.Err)
		}
		if c := res.Counts; c.Changed != 3 || c.Skipped != 1 || c.Failed != 0 {
			t.Fatalf("counts %+v", c)
		}
		if got, _ := readFile(dir + "/app.conf"); got != "host="+target.Name+"\n" {
			t.Fatalf("app.conf = %q", got)
		}
		if got, _ := readFile(dir + "/motd"); got != "welcome\n" {
			t.Fatalf("motd = %q (files did not travel with the playbook)", got)
		}
		if _, err := readFile(dir + "/state/provision.lock"); err != nil {
			t.Fatalf("the run did not take its lock in the state directory it was given: %v", err)
		}
	})
	t.Run("noop", func(t *testing.T) {
		rec, res := runJob(job(false, nil))
		if res.Err != nil || rec.Statuses() != "conf=ok copied=ok broken=skipped" || res.Counts.Changed != 0 {
			t.Fatalf("%s %v %+v", rec.Statuses(), res.Err, res.Counts)
		}
	})
	t.Run("check", func(t *testing.T) {
		rec, res := runJob(job(true, map[string]any{"dir": dir + "/elsewhere"}))
		if res.Err != nil || res.Counts.Pending != 3 || res.Counts.Changed != 0 {
			t.Fatalf("%s %v %+v", rec.Statuses(), res.Err, res.Counts)
		}
		if _, err := readFile(dir + "/elsewhere/app.conf"); err == nil {
			t.Fatal("check mode wrote a file")
		}
	})
	t.Run("failure", func(t *testing.T) {
		rec, res := runJob(job(false, map[string]any{"break": true}))
		if res.Counts.Failed != 1 || !strings.Contains(rec.Statuses(), "broken=failed") {
			t.Fatalf("%s %v %+v", rec.Statuses(), res.Err, res.Counts)
		}
		var failed report.Event
		for _, e := range rec.Events {
			if e.Status == report.StatusFailed {
				failed = e
			}
		}
		if !strings.Contains(failed.Error, "missing") || !strings.HasSuffix(failed.Pos, "site.yml:15:7") {
			t.Fatalf("failure event %+v", failed)
		}
	})
}
