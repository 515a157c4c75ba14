package files

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		task    tasks.Validator
		arg     string // the argument the error points at; "" when valid
		contain string
	}{
		{&File{Path: "/etc/x"}, "", ""},
		{&File{Path: "/etc/x", State: "link", Src: "../y"}, "", ""},
		{&File{Path: "etc/x"}, "path", "must be an absolute path"},
		{&File{}, "path", "is required"},
		{&File{Path: "/etc/x", State: "touch"}, "state", `unknown state "touch"`},
		{&File{Path: "/etc/x", State: "directory", Content: str("x")}, "content", "only for state file"},
		{&File{Path: "/etc/x", State: "link"}, "src", "is required for state link"},
		{&File{Path: "/etc/x", Src: "/y"}, "src", "use the copy module"},
		{&File{Path: "/etc/x", State: "link", Src: "/y", Mode: "0644"}, "mode", "no mode"},
		{&File{Path: "/etc/x", State: "absent", Owner: "root"}, "state", "make no sense"},
		{&File{Path: "/etc/x", Force: true}, "force", "only for state absent or link"},
		{&File{Path: "/", State: "absent", Force: true}, "path", "refusing to remove /"},
		{&File{Path: "/./", State: "absent"}, "path", "refusing to remove /"},
		{&File{Path: "/etc/x", Mode: "0999"}, "mode", "not an octal mode"},
		{&File{Path: "/etc/x", Owner: "-r"}, "owner", "must not start with '-'"},
		{&Copy{Dest: "/etc/x", Content: str("")}, "", ""},
		{&Copy{Dest: "/etc/x"}, "src", "is required (or give content)"},
		{&Copy{Dest: "/etc/x", Src: "a", Content: str("b")}, "content", "not both"},
		{&Copy{Src: "a"}, "dest", "is required"},
		{&Copy{Src: "a", Dest: "x"}, "dest", "must be an absolute path"},
		{&Copy{Src: "a", Dest: "/"}, "dest", "must name a file"},
		{&Template{Src: "a", Dest: "/x", Group: "-g"}, "group", "must not start"},
		{&Template{Dest: "/x"}, "src", "is required"},
	}
	for _, tc := range cases {
		err := tc.task.Validate()
		if tc.arg == "" {
			if err != nil {
				t.Errorf("%+v: unexpected error %v", tc.task, err)
			}
			continue
		}
		var ae *tasks.ArgError
		if !errors.As(err, &ae) || ae.Arg != tc.arg || !strings.Contains(ae.Msg, tc.contain) {
			t.Errorf("%+v: err = %v, want %s: ...%s...", tc.task, err, tc.arg, tc.contain)
		}
	}
}

func TestApplyWithoutPlanData(t *testing.T) {
	sys, _ := taskstest.New(t)
	p := tasks.Plan{Changes: []tasks.Change{{Field: "state", Before: "absent", After: "file"}}}
	if err := (&File{Path: "/x"}).Apply(context.Background(), sys, p); err == nil {
		t.Fatal("apply accepted a plan Check did not make")
	}
	if err := (&File{Path: "/x"}).Apply(context.Background(), sys, tasks.Plan{}); err != nil {
		t.Fatalf("empty plan: %v", err)
	}
}

// TestModeChangeKeepsInode proves an attribute-only plan does not rewrite
// the file.
func TestModeChangeKeepsInode(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/f", "x")
	before, _ := os.Stat(taskstest.HostPath(sys, "/etc/f"))
	taskstest.Converge(t, sys, &Copy{Content: str("x"), Dest: "/etc/f", Mode: "0600"})
	after, _ := os.Stat(taskstest.HostPath(sys, "/etc/f"))
	if !os.SameFile(before, after) {
		t.Error("file was replaced for a mode change")
	}
}
