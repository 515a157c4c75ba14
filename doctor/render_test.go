package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func sampleReport() Report {
	return Report{V: 1, Users: []string{"alice"}, Results: []Result{
		{ID: 1, Name: "podman_installed", Title: "podman is installed", Status: Pass, Found: "podman version 4.3.1 at /usr/bin/podman"},
		{ID: 2, Name: "podman_not_setuid", Title: "podman is not setuid", Status: Fail,
			Found: "/usr/bin/podman is setuid", Symptom: "(silent) every user can act as root",
			Fix: []Fix{command("chmod u-s /usr/bin/podman", "", "")}},
		{ID: 7, Name: "subid_ranges", Title: "the user has subordinate ID ranges", User: "alice", Status: Fail,
			Found:   "/etc/subuid has no range for alice (uid 1000)",
			Symptom: "line one\nline two",
			Fix:     []Fix{task("subid", arg{"user", "alice"}), command("podman system reset", "alice", "")}},
		{ID: 20, Name: "smoke_test", Title: "a container runs", User: "alice", Status: Skip, Found: "the smoke test runs a container: use --smoke"},
	}}
}

func TestRender(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, sampleReport(), false); err != nil {
		t.Fatal(err)
	}
	want := `host (as root)
  [pass]  1 podman is installed: podman version 4.3.1 at /usr/bin/podman
  [FAIL]  2 podman is not setuid
         found:   /usr/bin/podman is setuid
         symptom: (silent) every user can act as root
         fix:     run: chmod u-s /usr/bin/podman

user alice
  [FAIL]  7 the user has subordinate ID ranges
         found:   /etc/subuid has no range for alice (uid 1000)
         symptom: line one
                  line two
         fix:     task: subid: {user: alice}
         then:    as alice: podman system reset
  [skip] 20 a container runs
         found:   the smoke test runs a container: use --smoke

4 checks: 1 pass, 0 warn, 2 fail, 1 skip
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := Render(&b, sampleReport(), true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ansiBold+ansiRed+"[FAIL]"+ansiReset) || !strings.Contains(b.String(), ansiGreen+"[pass]"+ansiReset) {
		t.Errorf("no colour: %q", b.String())
	}
}

func TestRenderJSON(t *testing.T) {
	var b bytes.Buffer
	if err := RenderJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		V       int            `json:"v"`
		Users   []string       `json:"users"`
		Exit    int            `json:"exit"`
		Summary map[string]int `json:"summary"`
		Results []struct {
			ID      int    `json:"id"`
			User    string `json:"user"`
			Status  string `json:"status"`
			Symptom string `json:"symptom"`
			Fix     []struct {
				Module  string         `json:"module"`
				Args    map[string]any `json:"args"`
				Task    string         `json:"task"`
				Command string         `json:"command"`
				AsUser  string         `json:"as_user"`
			} `json:"fix"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.V != 1 || got.Exit != 1 || got.Summary["fail"] != 2 || got.Summary["skip"] != 1 || len(got.Results) != 4 {
		t.Errorf("header: %+v", got)
	}
	r := got.Results[2]
	if r.User != "alice" || r.Status != "fail" || len(r.Fix) != 2 {
		t.Fatalf("result: %+v", r)
	}
	if f := r.Fix[0]; f.Module != "subid" || f.Args["user"] != "alice" || f.Task != "subid: {user: alice}" {
		t.Errorf("task fix: %+v", f)
	}
	if f := r.Fix[1]; f.Command != "podman system reset" || f.AsUser != "alice" {
		t.Errorf("command fix: %+v", f)
	}
	// An empty report is still a valid document.
	b.Reset()
	if err := RenderJSON(&b, Report{}); err != nil || !strings.Contains(b.String(), `"results": []`) || !strings.Contains(b.String(), `"v": 1`) {
		t.Errorf("empty: %v %s", err, b.String())
	}
}

func TestFlowTask(t *testing.T) {
	for _, tc := range []struct {
		f    Fix
		want string
	}{
		{task("subid", arg{"user", "alice"}, arg{"count", 65536}), "subid: {user: alice, count: 65536}"},
		{task("package", arg{"names", []string{"uidmap"}}), "package: {names: [uidmap]}"},
		{task("sysctl", arg{"name", "user.max_user_namespaces"}, arg{"value", "15000"}), `sysctl: {name: user.max_user_namespaces, value: "15000"}`},
		{task("storage", arg{"rootless_storage_path", "/var/lib/x/$USER"}), "storage: {rootless_storage_path: /var/lib/x/$USER}"},
	} {
		if tc.f.Task != tc.want {
			t.Errorf("got %q, want %q", tc.f.Task, tc.want)
		}
	}
}

func TestMountinfo(t *testing.T) {
	ms := parseMountinfo(mountinfoGreen + "60 22 0:60 / /mnt/my\\040disk rw,noexec - vfat /dev/sdb1 rw\nshort line\n")
	if len(ms) != 4 {
		t.Fatalf("%d mounts", len(ms))
	}
	m, ok := mountFor(ms, "/mnt/my disk/x")
	if !ok || m.point != "/mnt/my disk" || !m.has("noexec") || m.fstype != "vfat" {
		t.Errorf("got %+v", m)
	}
	if m, _ := mountFor(ms, "/runx/y"); m.point != "/" {
		t.Errorf("/runx matched %q", m.point)
	}
	if m, _ := mountFor(ms, "/run"); m.point != "/run" {
		t.Errorf("/run matched %q", m.point)
	}
}
