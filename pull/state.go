package pull

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// stateName is the file recording pull runs, in the engine's state
// directory (/var/lib/provision by default).
const stateName = "pull-state.json"

// StatePath is the file recording pull runs in stateDir ("" is
// engine.DefaultStateDir).
func StatePath(stateDir string) string {
	if stateDir == "" {
		stateDir = engine.DefaultStateDir
	}
	return path.Join(stateDir, stateName)
}

// keepRuns is how many runs the state file keeps.
const keepRuns = 100

// Run is one recorded pull run.
type Run struct {
	Time     time.Time `json:"time"`
	Seconds  float64   `json:"seconds"`
	Playbook string    `json:"playbook"`
	Check    bool      `json:"check"`
	OK       int       `json:"ok"`
	Changed  int       `json:"changed"`
	Failed   int       `json:"failed"`
	Skipped  int       `json:"skipped"`
	Pending  int       `json:"pending"`
	// Drift is what the run found different from the playbook: the
	// changes applied, or in check mode the tasks with changes pending.
	Drift int `json:"drift"`
	// Error is a problem outside any task (the run lock, a bad playbook).
	Error string `json:"error,omitempty"`
}

// NewRun makes the record of a run from the engine's counts.
func NewRun(playbook string, check bool, start time.Time, c *report.Counts, err error) Run {
	r := Run{Time: start.UTC().Truncate(time.Second), Seconds: time.Since(start).Round(time.Millisecond).Seconds(), Playbook: playbook, Check: check}
	if c != nil {
		r.OK, r.Changed, r.Failed, r.Skipped, r.Pending = c.OK, c.Changed, c.Failed, c.Skipped, c.Pending
	}
	r.Drift = r.Changed
	if check {
		r.Drift = r.Pending
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// Result says in words how the run ended.
func (r Run) Result() string {
	switch {
	case r.Error != "":
		return "error: " + r.Error
	case r.Failed > 0:
		return fmt.Sprintf("%d failed", r.Failed)
	case r.Drift > 0 && r.Check:
		return "drift found"
	case r.Drift > 0:
		return "drift repaired"
	}
	return "in sync"
}

type stateFile struct {
	Version int   `json:"version"`
	Runs    []Run `json:"runs"`
}

// Record appends a run to the state file, keeping the last 100, with an
// atomic write.
func Record(sys *tasks.System, stateDir string, r Run) error {
	file := StatePath(stateDir)
	st, err := load(sys, file)
	if err != nil {
		return err
	}
	st.Runs = append(st.Runs, r)
	if len(st.Runs) > keepRuns {
		st.Runs = st.Runs[len(st.Runs)-keepRuns:]
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := mkdirAll(sys, path.Dir(file)); err != nil {
		return err
	}
	return sys.WriteFile(file, append(data, '\n'), tasks.FileAttrs{Mode: 0o644, UID: -1, GID: -1}, "")
}

func load(sys *tasks.System, file string) (stateFile, error) {
	st := stateFile{Version: 1}
	data, ok, err := sys.ReadFileIfExists(file)
	if err != nil || !ok {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %v", file, err)
	}
	return st, nil
}

// History returns the last n recorded runs, oldest first (all when n <= 0).
func History(sys *tasks.System, stateDir string, n int) ([]Run, error) {
	st, err := load(sys, StatePath(stateDir))
	if err != nil {
		return nil, err
	}
	runs := st.Runs
	if n > 0 && len(runs) > n {
		runs = runs[len(runs)-n:]
	}
	return runs, nil
}

// Status prints whether pull mode is installed and the last n runs, for
// `provision status`:
//
//	pull: every 30m, apply /etc/provision/site.yml (provision-pull.timer)
//	TIME                  MODE   OK  CHANGED  FAILED  DRIFT  RESULT
//	2026-11-29 09:00:00Z  apply  12        1       0      1  drift repaired
func Status(w io.Writer, sys *tasks.System, stateDir string, n int) error {
	fmt.Fprintln(w, "pull: "+describeInstall(sys))
	runs, err := History(sys, stateDir, n)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintln(w, "no pull runs recorded in "+StatePath(stateDir))
		return nil
	}
	fmt.Fprintf(w, "%-20s  %-5s  %4s  %7s  %6s  %5s  %s\n", "TIME", "MODE", "OK", "CHANGED", "FAILED", "DRIFT", "RESULT")
	for _, r := range runs {
		mode := "apply"
		changed := r.Changed
		if r.Check {
			mode = "check"
			changed = r.Pending
		}
		fmt.Fprintf(w, "%-20s  %-5s  %4d  %7d  %6d  %5d  %s\n", r.Time.UTC().Format("2006-01-02 15:04:05Z"), mode, r.OK, changed, r.Failed, r.Drift, r.Result())
	}
	return nil
}

// describeInstall reads the installed units (files only, so it works
// offline too) and says what they do.
func describeInstall(sys *tasks.System) string {
	timer, ok, _ := sys.ReadFileIfExists("/etc/systemd/system/" + TimerName)
	if !ok {
		return "not installed (provision pull --playbook PATH --every INTERVAL installs it)"
	}
	service, _, _ := sys.ReadFileIfExists("/etc/systemd/system/" + ServiceName)
	every := value(string(timer), "OnUnitActiveSec")
	if d, err := time.ParseDuration(every); err == nil {
		every = d.String()
	}
	desc := strings.TrimPrefix(value(string(service), "Description"), "provision pull: ")
	return fmt.Sprintf("every %s, %s (%s)", every, desc, TimerName)
}

// value returns the first value of key= in a unit file's text.
func value(text, key string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// mkdirAll creates a directory (0755) and its parents under the root.
func mkdirAll(sys *tasks.System, dir string) error {
	return sys.FS().MkdirAll(dir, 0o755, -1, -1)
}
