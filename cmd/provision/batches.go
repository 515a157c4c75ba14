package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/provision-tool/provision/inventory"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/transport"
)

// fleetRun runs a job on a fleet, forks hosts at a time, and keeps each
// host's counts.
type fleetRun struct {
	forks      int
	check      bool
	sink       report.Sink
	live       *report.Live
	local      transport.Local
	ssh        *transport.SSH
	mu         sync.Mutex
	recap      map[string]*report.Counts
	notStarted int
	failures   hostFailures
}

// playByPlay reports whether the controller must run the playbook one
// play at a time: a play has serial batches or a max_fail_percentage, so
// a play's next batch (and the next play) waits for the batch before it.
// Otherwise each host runs every play on its own, as fast as it can.
func playByPlay(pb *playbook.Playbook) bool {
	for _, p := range pb.Plays {
		if len(p.Serial) > 0 || p.MaxFailPct != nil {
			return true
		}
	}
	return false
}

// run runs the playbook on targets: every play at once on each host, or
// play by play in serial batches (playByPlay). Each play's run_once
// tasks run on the first host of its batch only.
func (fr *fleetRun) run(ctx context.Context, e *env, pb *playbook.Playbook, inv *inventory.Inventory, targets []target, job *transport.Job) {
	if !playByPlay(pb) {
		j := *job
		j.Bundle.RunOnceHosts = make([]string, len(pb.Plays))
		for i, play := range pb.Plays {
			if hosts := playHosts(job, play, targets); len(hosts) > 0 {
				j.Bundle.RunOnceHosts[i] = firstReachable(hosts)
			}
		}
		fr.runHosts(ctx, targets, &j)
		return
	}
	failed := map[string]bool{}
	startAt := startPlay(pb, job.Bundle.StartAtTask)
	for i, play := range pb.Plays {
		var live []target
		for _, t := range playHosts(job, play, targets) {
			if !failed[t.Name] {
				live = append(live, t)
			}
		}
		batches := batchesOf(play, live)
		for b, batch := range batches {
			if ctx.Err() != nil {
				return
			}
			if len(batches) > 1 {
				fmt.Fprintf(e.stderr, "provision: play %q: batch %d of %d: %s\n", play.Name, b+1, len(batches), hostNames(batch))
			}
			j := *job
			j.Bundle.Play = i + 1
			if i > startAt {
				j.Bundle.StartAtTask = "" // started in an earlier play
			}
			j.Bundle.RunOnceHosts = make([]string, len(pb.Plays))
			j.Bundle.RunOnceHosts[i] = firstReachable(batch)
			fr.runHosts(ctx, batch, &j)
			n := 0
			for _, t := range batch {
				if c := fr.recap[t.Name]; c != nil && (c.Failed > 0 || c.Unreachable) {
					failed[t.Name] = true
					n++
				}
			}
			if why := stopWhy(play, n, len(batch)); why != "" {
				var left []string
				for _, rest := range batches[b+1:] {
					left = append(left, hostNames(rest))
				}
				fmt.Fprintf(e.stderr, "provision: %s: play %q: %s; the run stops%s\n", play.Pos, play.Name, why, notRun(left, i+1 < len(pb.Plays)))
				return
			}
		}
	}
}

// startPlay is the index of the first play with the --start-at-task
// task (the plays before it run none of their tasks); past the last
// play without one.
func startPlay(pb *playbook.Playbook, name string) int {
	if name == "" {
		return len(pb.Plays)
	}
	for i, play := range pb.Plays {
		for _, t := range play.Tasks {
			if t.Name == name {
				return i
			}
		}
	}
	return len(pb.Plays)
}

// stopWhy says why a batch with n of size hosts failed stops the run, as
// in Ansible: every host of the batch failed, or more than the play's
// max_fail_percentage did. "" lets the run go on.
func stopWhy(play *playbook.Play, n, size int) string {
	switch {
	case n == 0:
		return ""
	case n == size:
		return fmt.Sprintf("every host of the batch failed (%d of %d)", n, size)
	case play.MaxFailPct != nil && float64(n)/float64(size)*100 > float64(*play.MaxFailPct):
		return fmt.Sprintf("%d of %d hosts of the batch failed, more than max_fail_percentage %d%%", n, size, *play.MaxFailPct)
	}
	return ""
}

// notRun says what the stop leaves out.
func notRun(batches []string, morePlays bool) string {
	var parts []string
	if len(batches) > 0 {
		parts = append(parts, "batches not run: "+strings.Join(batches, "; "))
	}
	if morePlays {
		parts = append(parts, "the plays after it are not run")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// playHosts are the targets the play selects, in inventory order.
func playHosts(job *transport.Job, play *playbook.Play, targets []target) []target {
	var out []target
	for _, t := range targets {
		if job.Match == nil || job.Match(t.Name, play.Hosts) {
			out = append(out, t)
		}
	}
	return out
}

// batchesOf splits the play's hosts into its serial batches.
func batchesOf(play *playbook.Play, hosts []target) [][]target {
	names := make([]string, len(hosts))
	for i, t := range hosts {
		names[i] = t.Name
	}
	var out [][]target
	at := 0
	for _, b := range play.Batches(names) {
		out = append(out, hosts[at:at+len(b)])
		at += len(b)
	}
	return out
}

// firstReachable is the host that runs run_once tasks: the first with no
// known connection problem.
func firstReachable(hosts []target) string {
	for _, t := range hosts {
		if t.err == nil {
			return t.Name
		}
	}
	return ""
}

func hostNames(ts []target) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// runHosts runs job on targets, forks at a time, adding each host's
// counts to the recap.
func (fr *fleetRun) runHosts(ctx context.Context, targets []target, job *transport.Job) {
	sem := make(chan struct{}, fr.forks)
	var wg sync.WaitGroup
	for _, t := range targets {
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			fr.notStarted++
			continue
		}
		wg.Add(1)
		go func(t target) {
			defer wg.Done()
			defer func() { <-sem }()
			fr.add(t.Name, fr.runOne(ctx, t, job))
		}(t)
	}
	wg.Wait()
}

// runOne runs job on one host and reports a failure to reach or run it.
func (fr *fleetRun) runOne(ctx context.Context, t target, job *transport.Job) *report.Counts {
	if fr.live != nil {
		fr.live.Start(t.Name)
		defer fr.live.Done(t.Name)
	}
	res := transport.Result{Counts: &report.Counts{}, Err: t.err}
	if t.err == nil {
		var tr transport.Transport = fr.ssh
		switch t.Connection {
		case "local":
			tr = fr.local
		case inventory.ConnChroot:
			tr = &transport.Chroot{}
		}
		res = tr.Run(ctx, t.Target, job, fr.sink)
	}
	if res.Counts == nil {
		res.Counts = &report.Counts{}
	}
	if res.Err != nil {
		status := report.StatusFailed
		if res.Unreachable {
			status = report.StatusUnreachable
			res.Counts.Unreachable = true
		} else {
			res.Counts.Failed++
		}
		fr.sink.Emit(report.Event{V: report.SchemaVersion, Type: report.HostError, Time: time.Now().UTC(),
			Host: t.Name, Status: status, Error: res.Err.Error(), Check: fr.check})
		fr.failures.add(t.Name, res.Unreachable, res.Err)
	}
	return res.Counts
}

// add adds a run's counts to the host's.
func (fr *fleetRun) add(host string, c *report.Counts) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	sum := fr.recap[host]
	if sum == nil {
		fr.recap[host] = c
		return
	}
	sum.OK += c.OK
	sum.Changed += c.Changed
	sum.Failed += c.Failed
	sum.Skipped += c.Skipped
	sum.Pending += c.Pending
	sum.Rescued += c.Rescued
	sum.Ignored += c.Ignored
	sum.Unreachable = sum.Unreachable || c.Unreachable
}
