package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// Serve is `provision agent`: it reads one Bundle from in, runs it on this
// host and writes the events to out as JSON Lines. After the bundle, a line
// "stop" on in asks the run to stop after the task in progress. It returns
// the exit code: 0 converged, 1 failed, 2 changes pending in check mode.
func Serve(ctx context.Context, in io.Reader, out, errw io.Writer) int {
	dec := json.NewDecoder(in)
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		fmt.Fprintf(errw, "provision agent: read bundle: %v\n", err)
		return report.ExitFailed
	}
	if b.Version != BundleVersion {
		fmt.Fprintf(errw, "provision agent: bundle version %d, this agent speaks %d\n", b.Version, BundleVersion)
		return report.ExitFailed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		sc := bufio.NewScanner(io.MultiReader(dec.Buffered(), in))
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "stop" {
				cancel()
				return
			}
		}
	}()

	dir, err := os.MkdirTemp("", "provision-run-")
	if err != nil {
		fmt.Fprintf(errw, "provision agent: %v\n", err)
		return report.ExitFailed
	}
	defer os.RemoveAll(dir)
	if _, err := b.unpack(dir); err != nil {
		fmt.Fprintf(errw, "provision agent: %v\n", err)
		return report.ExitFailed
	}
	vars := b.ExtraVars
	if vars == nil {
		vars = map[string]any{} // a run's: templated hosts and notify are rendered
	}
	pb, err := playbook.ParseOptions(b.Playbook, b.Source, playbook.Options{Keys: &playbook.VaultKeys{Plain: b.Vaulted}, Dir: dir,
		RolesPath: b.RolesPath, Vars: vars})
	if err != nil {
		fmt.Fprintf(errw, "%v\n", err)
		return report.ExitFailed
	}
	pb.Dir = dir
	fx := facts.New("/")
	sys := &tasks.System{Root: "/", Runner: tasks.ExecRunner{Facts: fx}, Facts: fx, SourceDir: dir, Log: report.NewLogger(errw, false), Image: b.Image}
	opts := engine.Options{
		Host: b.Host, Check: b.Check, NoVerify: b.NoVerify, Tags: b.Tags, SkipTags: b.SkipTags, StartAtTask: b.StartAtTask,
		HostVars: b.HostVars, ExtraVars: b.ExtraVars, PlaybookID: b.PlaybookID, Sink: report.NewJSON(out),
		StateDir: b.StateDir, LockPath: b.LockPath, Play: b.Play, RunOnceHosts: b.RunOnceHosts,
	}
	if b.Plays != nil {
		opts.MatchHosts = func(pattern string) bool { return b.Plays[pattern] }
	}
	counts, err := engine.Run(ctx, pb, sys, opts)
	if err != nil {
		fmt.Fprintf(errw, "provision agent: %v\n", err)
		return report.ExitFailed
	}
	return report.ExitCode(counts, b.Check)
}
