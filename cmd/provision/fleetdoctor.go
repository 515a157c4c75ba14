package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/provision-tool/provision/doctor"
	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/inventory"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/transport"
)

// hostDoctor is one host's doctor report, or why there is none.
type hostDoctor struct {
	Host        string         `json:"host"`
	Report      *doctor.Report `json:"report,omitempty"`
	Unreachable bool           `json:"unreachable,omitempty"`
	Error       string         `json:"error,omitempty"`
}

// fleetDoctor runs the doctor on every host of an inventory (locally for
// local connections, over SSH otherwise), prints each host's report and a
// summary table. The exit code is the worst host's: 1 for any failure or
// unreachable host, 2 for warnings only.
func (e *env) fleetDoctor(ctx context.Context, ssh *transport.SSH, invs []string, limit string, forks int, remoteArgs []string, opts doctor.Options, output string) int {
	inv, err := inventory.Load(invs, ".")
	if err != nil {
		e.printInventoryErr(err)
		return exitFailed
	}
	hosts, err := inv.SelectLimit("all", limit)
	if err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	results := make([]hostDoctor, len(hosts))
	sem := make(chan struct{}, max(forks, 1))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, h *inventory.Host) {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = e.doctorOne(ctx, ssh, targetFor(inv, h), remoteArgs, opts)
		}(i, h)
	}
	wg.Wait()

	code := exitOK
	for _, r := range results {
		c := exitFailed
		if r.Report != nil {
			c = r.Report.ExitCode()
		}
		if c == exitFailed || c == exitPending && code == exitOK {
			code = c
		}
	}
	if output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"v": 1, "hosts": results, "exit": code})
		return code
	}
	color := colorOf(e.stdout)
	for _, r := range results {
		fmt.Fprintf(e.stdout, "=== %s\n", r.Host)
		if r.Report == nil {
			fmt.Fprintf(e.stdout, "%s\n\n", r.Error)
			continue
		}
		doctor.Render(e.stdout, *r.Report, color)
		fmt.Fprintln(e.stdout)
	}
	e.doctorSummary(results)
	var failures hostFailures
	for _, r := range results {
		if r.Report == nil {
			failures.add(r.Host, r.Unreachable, errors.New(strings.TrimPrefix(r.Error, "unreachable: ")))
		}
	}
	failures.print(e.stderr, len(results), "could not be checked")
	return code
}

func (e *env) doctorOne(ctx context.Context, ssh *transport.SSH, t target, remoteArgs []string, opts doctor.Options) hostDoctor {
	hd := hostDoctor{Host: t.Name}
	if t.err != nil {
		hd.Error = t.err.Error()
		return hd
	}
	if t.Connection == "local" {
		fx := facts.New("/")
		sys := &tasks.System{Root: "/", Runner: tasks.ExecRunner{Facts: fx}, Facts: fx, Log: report.NewLogger(e.stderr, false)}
		rep := doctor.Run(ctx, sys, opts)
		hd.Report = &rep
		return hd
	}
	out, _, unreachable, err := ssh.Exec(ctx, t.Target, remoteArgs...)
	if err != nil {
		hd.Unreachable, hd.Error = unreachable, err.Error()
		if unreachable {
			hd.Error = "unreachable: " + hd.Error
		}
		return hd
	}
	var rep doctor.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		hd.Error = fmt.Sprintf("unreadable doctor report: %v", err)
		return hd
	}
	hd.Report = &rep
	return hd
}

// doctorSummary prints one line per host with its counts.
func (e *env) doctorSummary(results []hostDoctor) {
	width := len("host")
	for _, r := range results {
		width = max(width, len(r.Host))
	}
	fmt.Fprintf(e.stdout, "%-*s  %4s %4s %4s %4s  %s\n", width, "host", "pass", "warn", "fail", "skip", "verdict")
	sorted := append([]hostDoctor(nil), results...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Host < sorted[j].Host })
	for _, r := range sorted {
		if r.Report == nil {
			verdict := "error"
			if r.Unreachable {
				verdict = "unreachable"
			}
			fmt.Fprintf(e.stdout, "%-*s  %4s %4s %4s %4s  %s\n", width, r.Host, "-", "-", "-", "-", verdict)
			continue
		}
		c := r.Report.Counts()
		verdict := map[int]string{exitOK: "ready", exitPending: "warnings", exitFailed: "NOT READY"}[r.Report.ExitCode()]
		fmt.Fprintf(e.stdout, "%-*s  %4d %4d %4d %4d  %s\n", width, r.Host, c[doctor.Pass], c[doctor.Warn], c[doctor.Fail], c[doctor.Skip], verdict)
	}
}
