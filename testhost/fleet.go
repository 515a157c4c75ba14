package testhost

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
)

// inotifyGuests is the number of concurrent guests above which the inotify
// limits are raised: every guest's systemd counts against uid 0's
// fs.inotify.max_user_instances (128 here), which runs out at about 15.
const inotifyGuests = 8

// raiseInotifyLocked raises the inotify limits once more than inotifyGuests
// guests run. The caller holds hs.mu; restoreIfIdle puts them back.
func raiseInotifyLocked(guests int) error {
	if guests <= inotifyGuests || hs.raised {
		return nil
	}
	if err := raiseSysctlAtLeast(hs.cache, "fs.inotify.max_user_instances", 8192); err != nil {
		return err
	}
	if err := raiseSysctlAtLeast(hs.cache, "fs.inotify.max_user_watches", 1048576); err != nil {
		return err
	}
	hs.raised = true
	return nil
}

// restoreIfIdle restores the sysctls and device modes once no guest runs.
func restoreIfIdle() error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.hosts) > 0 || (!hs.raised && !hs.fuse) {
		return nil
	}
	hs.raised, hs.fuse = false, false
	return restoreSettings(hs.cache)
}

// FleetOptions tune a fleet; the zero value is fine.
type FleetOptions struct {
	Options
}

// Fleet boots n hosts of one kind at once on a fresh bridge (10.78.K.0/24,
// host side 10.78.K.1, guests 10.78.K.11 and up), each in its own cgroups,
// with the inotify limits raised while they run. n may be up to 240; 20 is
// proven. All are stopped, and the bridge deleted, when the test ends.
func Fleet(tb testing.TB, kind Kind, n int) []*Host {
	tb.Helper()
	return FleetWith(tb, kind, n, FleetOptions{})
}

// FleetWith is Fleet with options (applied to every guest).
func FleetWith(tb testing.TB, kind Kind, n int, opts FleetOptions) []*Host {
	tb.Helper()
	if n < 1 || n > 240 {
		tb.Fatalf("testhost: fleet of %d hosts: want 1 to 240", n)
	}
	p := ready(tb, kind)
	hs.mu.Lock()
	hs.nextFl++
	k := hs.nextFl
	hs.mu.Unlock()
	if k > 250 {
		tb.Fatalf("testhost: more than 250 fleets in one run")
	}
	br := fmt.Sprintf("%s%d", bridgePrefix, k)
	gw := fmt.Sprintf("10.78.%d.1", k)
	start := time.Now()
	hs.mu.Lock()
	hs.bridges[br] = true
	hs.mu.Unlock()
	hosts := make([]*Host, 0, n)
	tb.Cleanup(func() {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, len(hosts))
		for i, h := range hosts {
			wg.Add(1)
			go func(i int, h *Host) {
				defer wg.Done()
				errs[i] = h.stop()
			}(i, h)
		}
		wg.Wait()
		err := multierror.Append(nil, errs...)
		if lerr := deleteLink(br); lerr != nil {
			err = multierror.Append(err, lerr)
		} else {
			hs.mu.Lock()
			delete(hs.bridges, br)
			hs.mu.Unlock()
		}
		if err := err.ErrorOrNil(); err != nil {
			tb.Errorf("testhost: stop fleet %s: %v", br, err)
		}
		stage(tb, fmt.Sprintf("stop fleet of %d", len(hosts)), start)
	})
	deleteLink(br)
	for _, args := range [][]string{
		{"link", "add", br, "type", "bridge"},
		{"addr", "add", gw + "/24", "dev", br},
		{"link", "set", br, "up"},
	} {
		if err := run("ip", args...); err != nil {
			tb.Fatalf("testhost: fleet bridge: %v", err)
		}
	}
	for i := 1; i <= n; i++ {
		h := &Host{
			Name: fmt.Sprintf("%s-f%d-%d", kind, k, i), Kind: kind,
			IP: fmt.Sprintf("10.78.%d.%d", k, 10+i), tb: tb,
		}
		hosts = append(hosts, h)
		if err := h.create(p, h.IP+"/24", gw, opts.Options, []string{"--network-bridge=" + br}); err != nil {
			tb.Fatalf("testhost: fleet host %s: %v", h.Name, err)
		}
	}
	stage(tb, fmt.Sprintf("launch fleet of %d %s hosts", n, kind), start)
	timeout := opts.BootTimeout
	if timeout == 0 {
		timeout = 180 * time.Second
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, h := range hosts {
		wg.Add(1)
		go func(i int, h *Host) {
			defer wg.Done()
			errs[i] = h.waitBoot(timeout)
		}(i, h)
	}
	wg.Wait()
	if err := multierror.Append(nil, errs...).ErrorOrNil(); err != nil {
		tb.Fatalf("testhost: fleet boot: %v", err)
	}
	stage(tb, fmt.Sprintf("boot fleet of %d %s hosts (to sshd)", n, kind), start)
	return hosts
}
