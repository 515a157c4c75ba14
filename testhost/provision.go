package testhost

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/report"
)

// GuestProvisionPath is where InstallProvision puts the binary in a guest.
const GuestProvisionPath = "/usr/local/bin/provision"

// ModuleRoot returns the directory of the go.mod governing the current
// directory (the package under test).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

// BuildProvision builds ./cmd/provision of this module with CGO_ENABLED=0
// (a static binary runs in any guest) once per test binary and returns its
// path on the host.
func BuildProvision(tb testing.TB) string {
	tb.Helper()
	if err := setup(tb); err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	p, err := hs.do(hs.other, "provision", func() (string, error) {
		root, err := ModuleRoot()
		if err != nil {
			return "", err
		}
		out := filepath.Join(hs.runDir, "bin", "provision")
		start := time.Now()
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/provision")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/provision (in %s): %v\n%s", root, err, b)
		}
		stage(tb, "go build ./cmd/provision", start)
		return out, nil
	})
	if err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	return p
}

// InstallProvision copies the provision binary (built by BuildProvision)
// into the guest at GuestProvisionPath and returns that path.
func (h *Host) InstallProvision(tb testing.TB) string {
	tb.Helper()
	bin := BuildProvision(tb)
	if err := h.CopyIn(bin, GuestProvisionPath); err != nil {
		tb.Fatalf("testhost: install provision on %s: %v", h.Name, err)
	}
	return GuestProvisionPath
}

// Provision runs `provision ARGS... --output json` as root on the guest
// (with the binary InstallProvision put there), fails the test unless it
// exits with want (0 converged, 1 failed, 2 changes pending in check mode),
// and returns the decoded JSON Lines events and the raw result.
func (h *Host) Provision(tb testing.TB, want int, args ...string) ([]report.Event, Result) {
	tb.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	r := h.SSHExpect(tb, "root", want, GuestProvisionPath+" "+strings.Join(quoted, " ")+" --output json")
	evs, err := ParseEvents(r.Stdout)
	if err != nil {
		tb.Fatalf("%s", h.Failure(r, "bad JSON events", err))
	}
	return evs, r
}

// ParseEvents decodes provision's JSON Lines output (one event per
// non-empty line).
func ParseEvents(out string) ([]report.Event, error) {
	var evs []report.Event
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e report.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return evs, fmt.Errorf("line %d: %v: %s", i+1, err, line)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// TaskResults returns the task_result events, optionally only those with
// one of the given statuses.
func TaskResults(evs []report.Event, statuses ...string) []report.Event {
	var out []report.Event
	for _, e := range evs {
		if e.Type != report.TaskResult {
			continue
		}
		if len(statuses) == 0 || slices.Contains(statuses, e.Status) {
			out = append(out, e)
		}
	}
	return out
}
