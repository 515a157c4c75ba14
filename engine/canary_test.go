package engine_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"

	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/pull"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	_ "github.com/provision-tool/provision/tasks/all"
)

// canary is the secret no output may show.
const canary = "CANARY-5ec7e7-b33f"

// canaryPB has no_log tasks with the canary in file content, a file path,
// loop items, command argv, environment, a debug message (creates) and
// error text (stderr); the looped task notifies a handler that fails, so
// its notification stays in pending-handlers.json.
const canaryPB = `
- name: p
  hosts: all
  vars:
    secret: ` + canary + `
  tasks:
    - name: write the secret
      copy: {dest: /etc/secret.conf, content: "password={{ secret }}\n"}
      no_log: true
    - name: secret items
      copy: {dest: "/etc/{{ item }}.conf", content: "{{ item }}\n"}
      loop: ["{{ secret }}-item"]
      no_log: true
      notify: reload
    - name: not run, says so at debug level
      command: {argv: [/bin/echo, "{{ secret }}-argv"], creates: /etc/secret.conf}
      no_log: true
    - name: fails showing its secrets
      command:
        argv: [/bin/sh, -c, 'echo "$0 $TOKEN" >&2; echo "$0"; exit 3', "{{ secret }}-argv"]
        env: {TOKEN: "{{ secret }}-env"}
      loop: ["{{ secret }}-loop"]
      no_log: true
      ignore_errors: true
  handlers:
    - name: reload
      command: {argv: [/bin/false]}
`

// written are the files the playbook itself puts the canary in.
var written = map[string]bool{"etc/secret.conf": true, "etc/" + canary + "-item.conf": true}

// syncBuffer is a bytes.Buffer safe for several writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// outputs are the human report, JSON Lines and the log of one run.
type outputs struct{ human, json, log syncBuffer }

func (o *outputs) sink() report.Sink {
	h := &report.Human{W: &o.human, Diff: true, Verbose: true}
	j := report.NewJSON(&o.json)
	return report.SinkFunc(func(e report.Event) { h.Emit(e); j.Emit(e) })
}

func canarySystem(t *testing.T) (*tasks.System, *playbook.Playbook) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"etc", "var/lib/provision", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pb, err := playbook.Parse(filepath.Join(root, "site.yml"), []byte(canaryPB))
	if err != nil {
		t.Fatal(err)
	}
	fx := facts.New(root)
	return &tasks.System{Root: root, Runner: tasks.ExecRunner{Facts: fx}, Facts: fx, SourceDir: root}, pb
}

func engineOptions() engine.Options {
	return engine.Options{StateDir: "/var/lib/provision", LockPath: "/run/provision.lock"}
}

func TestNoLogCanaryEngine(t *testing.T) {
	sys, pb := canarySystem(t)
	var o outputs
	sys.Log = report.NewLogger(&o.log, true)
	opts := engineOptions()
	opts.Sink = o.sink()
	counts, err := engine.Run(context.Background(), pb, sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	assertRan(t, counts, &o)
	assertNoCanary(t, "human report", o.human.String())
	assertNoCanary(t, "JSON", o.json.String())
	assertNoCanary(t, "verbose log", o.log.String())
	assertNoCanaryInRoot(t, sys.Root)
}

func TestNoLogCanaryPull(t *testing.T) {
	sys, pb := canarySystem(t)
	var o outputs
	var journalMu sync.Mutex
	var fields strings.Builder
	l := logrus.New()
	l.SetOutput(&o.log)
	l.SetLevel(logrus.DebugLevel)
	l.AddHook(&pull.JournalHook{Send: func(msg string, _ journal.Priority, vars map[string]string) error {
		journalMu.Lock()
		defer journalMu.Unlock()
		fields.WriteString(msg + "\n")
		for k, v := range vars {
			fields.WriteString(k + "=" + v + "\n")
		}
		return nil
	}})
	counts, err := pull.RunOnce(context.Background(), sys, pb, pull.RunOptions{Log: l, Sink: o.sink(), Engine: engineOptions()})
	if err != nil {
		t.Fatal(err)
	}
	assertRan(t, counts, &o)
	assertNoCanary(t, "human report", o.human.String())
	assertNoCanary(t, "JSON", o.json.String())
	assertNoCanary(t, "logrus text", o.log.String())
	assertNoCanary(t, "journal fields", fields.String())
	assertNoCanaryInRoot(t, sys.Root)
}

// assertRan makes sure the run did what the canary needs: the secrets
// were used (the files written, the command failed), so an empty output
// cannot pass.
func assertRan(t *testing.T, c *report.Counts, o *outputs) {
	t.Helper()
	if c.Changed < 2 || c.Failed != 1 || c.Ignored != 1 {
		t.Fatalf("counts %+v, want the copies changed, the command's failure ignored and the handler failed\n%s", *c, o.human.String())
	}
	for _, want := range []string{engine.Hidden, "(output hidden by no_log)"} {
		if !strings.Contains(o.human.String(), want) || !strings.Contains(o.json.String(), want) {
			t.Errorf("outputs lack %q:\n%s\n%s", want, o.human.String(), o.json.String())
		}
	}
	if !strings.Contains(o.log.String(), "debug message "+engine.Hidden) {
		t.Errorf("the log lacks the hidden debug message:\n%s", o.log.String())
	}
}

func assertNoCanary(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, canary) {
		t.Errorf("%s shows the no_log secret:\n%s", what, out)
	}
}

// assertNoCanaryInRoot reads every file under root but those the playbook
// wrote the secret to: state files, the lock, the pull record.
func assertNoCanaryInRoot(t *testing.T, root string) {
	t.Helper()
	seen := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err != nil || d.IsDir() || written[rel] {
			return err
		}
		if strings.Contains(rel, canary) {
			t.Errorf("unexpected file %s", rel)
		}
		data, _ := os.ReadFile(p)
		seen++
		assertNoCanary(t, rel, string(data))
		return nil
	})
	if _, err := os.Stat(filepath.Join(root, "var/lib/provision/pending-handlers.json")); err != nil {
		t.Errorf("no pending handler state: %v", err)
	}
}

// vaultPB uses a vault-encrypted value (the vector of package vault,
// password "correct horse", plaintext "s3cr3t-db-pass") in tasks without
// no_log: content, a path, a loop item notifying a failing handler,
// argv, a debug message and an error.
const vaultPB = `
- name: p
  hosts: all
  vars:
    db: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      30303031303230333034303530363037303830393061306230633064306530663130313131323133
      3134313531363137313831393161316231633164316531660a356665316135303361656564636238
      31613762633864383834363231363366653335646561646365323936623433353437643064396165
      3464383930343638630a623861303736376165643738653433613232643935333230616164613166
      3565
  tasks:
    - name: write it
      copy: {dest: /etc/db.conf, content: "password={{ db }}\n"}
    - name: items
      copy: {dest: "/etc/{{ item }}.conf", content: "x\n"}
      loop: ["{{ db }}"]
      notify: reload
    - name: not run
      command: {argv: [/bin/echo, "{{ db }}"], creates: /etc/db.conf}
    - name: fails
      command: {argv: [/bin/sh, -c, 'echo "$0" >&2; exit 3', "{{ db }}"]}
      ignore_errors: true
  handlers:
    - name: reload
      command: {argv: [/bin/false]}
`

func TestVaultSecretsAreMasked(t *testing.T) {
	const plain = "s3cr3t-db-pass"
	sys, _ := canarySystem(t)
	pb, err := playbook.ParseVault(filepath.Join(sys.Root, "site.yml"), []byte(vaultPB), &playbook.VaultKeys{Password: []byte("correct horse")})
	if err != nil {
		t.Fatal(err)
	}
	var o outputs
	sys.Log = report.NewLogger(&o.log, true)
	opts := engineOptions()
	opts.Sink = o.sink()
	counts, err := engine.Run(context.Background(), pb, sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Changed < 2 || counts.Failed != 1 || counts.Ignored != 1 {
		t.Fatalf("counts %+v\n%s", *counts, o.human.String())
	}
	if data, _ := os.ReadFile(filepath.Join(sys.Root, "etc/db.conf")); string(data) != "password="+plain+"\n" {
		t.Fatalf("the task did not get the plaintext: %q", data)
	}
	for what, out := range map[string]string{"human": o.human.String(), "JSON": o.json.String(), "log": o.log.String()} {
		if strings.Contains(out, plain) {
			t.Errorf("%s shows the vault secret:\n%s", what, out)
		}
	}
	if !strings.Contains(o.human.String(), "(vaulted value)") {
		t.Errorf("the error does not say what was cut:\n%s", o.human.String())
	}
	data, _ := os.ReadFile(filepath.Join(sys.Root, "var/lib/provision/pending-handlers.json"))
	if len(data) == 0 || strings.Contains(string(data), plain) {
		t.Errorf("pending handlers: %s", data)
	}
}
