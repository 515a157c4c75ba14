//go:build bench

// Package fleetbench measures provision against ansible-playbook on real
// booted test hosts (testhost fleets of the DebianPy kind: Debian 12 with
// python3 and python3-apt for Ansible's modules) over SSH: the first,
// converging run on fresh hosts, and no-op re-runs on 1 and on N converged
// hosts. It is a test only because the harness needs a testing.TB; run it
// with bench/fleet-vs-ansible.sh, which prints the table on stdout
// (progress goes to stderr).
package fleetbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/testhost"
)

var (
	flagHosts         = flag.Int("hosts", 20, "fleet size")
	flagRuns          = flag.Int("runs", 5, "timed no-op runs of provision per configuration")
	flagAnsibleRuns   = flag.Int("ansible-runs", 3, "timed no-op runs of ansible-playbook per configuration")
	flagConvergeRuns  = flag.Int("converge-runs", 3, "first runs on fresh fleets per tool (each boots a fleet)")
	flagConvergeHosts = flag.Int("converge-hosts", 0, "fleet size for the first runs (default: -hosts)")
	flagMarkdown      = flag.String("markdown", "", "also write the table as markdown to this file")
)

func TestMain(m *testing.M) { os.Exit(testhost.Main(m, testhost.DebianPy)) }

// ansibleCfg is the best configuration for Ansible measured here:
// pipelining on (one SSH round trip per task instead of several), host keys
// checked, Python found without discovery. Ansible's default ssh_args
// (ControlMaster=auto, ControlPersist=60s) stay: re-runs reuse the
// connections of the warm-up run. Forks and fact gathering are set per run.
const ansibleCfg = `[defaults]
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
deprecation_warnings = False
nocows = True

[ssh_connection]
pipelining = True
`

// bench is one measurement session.
type bench struct {
	root     string // module root
	bin      string // provision
	work     string
	cfg      string // ansible.cfg
	provPB   string
	ansPB    string
	key      string
	known    string
	progress io.Writer
}

// fleet is a booted fleet with its inventories (the same files serve both
// tools: provision reads Ansible inventories).
type fleet struct {
	hosts []*testhost.Host
	all   string // inventory of every host
	one   string // inventory of the first host
	// allCP and oneCP are the same with ssh connection sharing
	// (ControlMaster=auto, ControlPersist=60s, as Ansible's default
	// ssh_args) in ansible_ssh_common_args.
	allCP, oneCP string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "fleetbench: "+format+"\n", args...)
}

func newBench(t *testing.T) *bench {
	t.Helper()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatalf("ansible-playbook not found: run bench/fleet-vs-ansible.sh (it installs Debian's ansible package)")
	}
	root, err := testhost.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{root: root, work: t.TempDir(), progress: os.Stderr,
		provPB: filepath.Join(root, "examples/rootless-podman.yml"),
		ansPB:  filepath.Join(root, "bench/ansible/rootless-podman.yml")}
	b.bin = testhost.BuildProvision(t)
	b.cfg = filepath.Join(b.work, "ansible.cfg")
	if err := os.WriteFile(b.cfg, []byte(ansibleCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// boot boots a fresh fleet of n hosts (stopped when tb ends) and writes its
// inventories: a YAML inventory with group_vars/all.yml beside it holding
// the connection variables (the harness's key, its known_hosts, strict host
// key checking).
func (b *bench) boot(tb testing.TB, n int) *fleet {
	tb.Helper()
	start := time.Now()
	hosts := testhost.FleetWith(tb, testhost.DebianPy, n, testhost.FleetOptions{})
	b.logf("booted %d hosts in %.1fs", n, time.Since(start).Seconds())
	if b.key == "" {
		argv := hosts[0].SSHCommand("root")
		for i, a := range argv {
			if a == "-i" && i+1 < len(argv) {
				b.key = argv[i+1]
			}
			if s, ok := strings.CutPrefix(a, "UserKnownHostsFile="); ok {
				b.known = s
			}
		}
		if b.key == "" || b.known == "" {
			tb.Fatalf("no key or known_hosts in %q", argv)
		}
	}
	f := &fleet{hosts: hosts}
	f.all, f.one = b.inventories(tb, hosts, "")
	// A short directory: the socket path must fit in 108 bytes.
	cm, err := os.MkdirTemp("/tmp", "fb-cm-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(cm) })
	f.allCP, f.oneCP = b.inventories(tb, hosts, " -o ControlMaster=auto -o ControlPersist=60s -o ControlPath="+cm+"/%C")
	return f
}

// inventories writes a YAML inventory of hosts and one of the first host,
// with group_vars/all.yml beside them holding the connection variables
// (the harness's key, its known_hosts, strict host key checking, and
// sshArgs).
func (b *bench) inventories(tb testing.TB, hosts []*testhost.Host, sshArgs string) (all, one string) {
	tb.Helper()
	dir, err := os.MkdirTemp(b.work, "fleet-")
	if err != nil {
		tb.Fatal(err)
	}
	gv := fmt.Sprintf(`ansible_user: root
ansible_ssh_private_key_file: %s
ansible_ssh_common_args: -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes%s
ansible_python_interpreter: /usr/bin/python3
`, b.key, b.known, sshArgs)
	if err := os.MkdirAll(filepath.Join(dir, "group_vars"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "group_vars/all.yml"), []byte(gv), 0o644); err != nil {
		tb.Fatal(err)
	}
	inv := func(name string, hs []*testhost.Host) string {
		var s strings.Builder
		s.WriteString("all:\n  children:\n    podman_hosts:\n      hosts:\n")
		for _, h := range hs {
			fmt.Fprintf(&s, "        %s:\n          ansible_host: %s\n", h.Name, h.IP)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	return inv("hosts.yml", hosts), inv("one.yml", hosts[:1])
}

// outcome is what a run did, per host.
type outcome struct {
	hosts                        int
	changed, failed, unreachable int // hosts with any
}

// provision runs `provision apply` on an inventory and returns its wall time
// and outcome (from the JSON recap).
func (b *bench) provision(tb testing.TB, inv string) (sample, outcome) {
	tb.Helper()
	out, d := b.run(tb, exec.Command(b.bin, "apply", "-i", inv, "--output", "json", b.provPB))
	var o outcome
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var recap struct {
		Type  string `json:"type"`
		Recap map[string]struct {
			Changed, Failed int
			Unreachable     bool
		} `json:"recap"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &recap); err != nil || recap.Type != "recap" {
		tb.Fatalf("provision: no recap as the last line (%v):\n%s", err, out)
	}
	for _, c := range recap.Recap {
		o.hosts++
		o.changed += b2i(c.Changed > 0)
		o.failed += b2i(c.Failed > 0)
		o.unreachable += b2i(c.Unreachable)
	}
	return d, o
}

var ansibleRecapRE = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// ansible runs ansible-playbook with forks = number of hosts and facts
// gathered or not, and returns its wall time and outcome (from PLAY RECAP).
func (b *bench) ansible(tb testing.TB, inv string, forks int, facts bool) (sample, outcome) {
	tb.Helper()
	cmd := exec.Command("ansible-playbook", "-i", inv, "-f", strconv.Itoa(forks), b.ansPB)
	gathering := "explicit"
	if facts {
		gathering = "implicit"
	}
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+b.cfg, "ANSIBLE_GATHERING="+gathering, "ANSIBLE_FORCE_COLOR=0", "ANSIBLE_NOCOLOR=1")
	out, d := b.run(tb, cmd)
	var o outcome
	for _, m := range ansibleRecapRE.FindAllStringSubmatch(out, -1) {
		o.hosts++
		o.changed += b2i(m[3] != "0")
		o.unreachable += b2i(m[4] != "0")
		o.failed += b2i(m[5] != "0")
	}
	return d, o
}

// sample is one timed run: wall time, the CPU time of the controller
// (the tool and its ssh clients) and the CPU time the whole machine spent
// meanwhile (controller, guests' sshd and agents or Python, and noise).
type sample struct {
	wall, ctl, all time.Duration
}

// machineCPU returns the busy time of all CPUs so far, from /proc/stat.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// run runs cmd from the module root, fails on a non-zero exit, and returns
// its stdout and timings (wall: process start to exit).
func (b *bench) run(tb testing.TB, cmd *exec.Cmd) (string, sample) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env, c.Dir = cmd.Env, b.root
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	cpu0 := machineCPU()
	start := time.Now()
	err := c.Run()
	d := sample{wall: time.Since(start), all: machineCPU() - cpu0}
	if c.ProcessState != nil {
		d.ctl = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ctx.Err() != nil {
			tb.Fatalf("%s: %v", strings.Join(c.Args, " "), err)
		}
		tb.Fatalf("%s: %v\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s", strings.Join(c.Args, " "), err, tail(out.String(), 40), tail(errb.String(), 20))
	}
	return out.String(), d
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// series is the timings of one configuration.
type series []sample

func median(ds []time.Duration) time.Duration {
	c := slices.Clone(ds)
	slices.Sort(c)
	if len(c) == 0 {
		return 0
	}
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s series) get(f func(sample) time.Duration) []time.Duration {
	var ds []time.Duration
	for _, x := range s {
		ds = append(ds, f(x))
	}
	return ds
}

// median is the median wall time.
func (s series) median() time.Duration {
	return median(s.get(func(x sample) time.Duration { return x.wall }))
}

func (s series) String() string {
	if len(s) == 0 {
		return "-"
	}
	return fmtDur(s.median())
}

// spread says the median, the number of runs, the range and the median CPU
// times.
func (s series) spread() string {
	if len(s) == 0 {
		return "-"
	}
	w := s.get(func(x sample) time.Duration { return x.wall })
	slices.Sort(w)
	return fmt.Sprintf("%s (%d runs, %s–%s; CPU: controller %s, machine %s)", fmtDur(s.median()), len(w), fmtDur(w[0]), fmtDur(w[len(w)-1]),
		fmtDur(median(s.get(func(x sample) time.Duration { return x.ctl }))), fmtDur(median(s.get(func(x sample) time.Duration { return x.all }))))
}

func fmtDur(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// check fails the run unless the outcome is n hosts, none failed or
// unreachable, and changed on all (converging) or none (no-op).
func check(tb testing.TB, what string, o outcome, n int, converging bool) {
	tb.Helper()
	want := outcome{hosts: n}
	if converging {
		want.changed = n
	}
	if o != want {
		tb.Fatalf("%s: %+v, want %+v", what, o, want)
	}
}

// TestFleetVsAnsible is the benchmark.
func TestFleetVsAnsible(t *testing.T) {
	testhost.Require(t)
	n := *flagHosts
	cn := *flagConvergeHosts
	if cn == 0 {
		cn = n
	}
	if *flagRuns < 1 || *flagAnsibleRuns < 1 || *flagConvergeRuns < 1 || n < 1 {
		t.Fatal("-hosts, -runs, -ansible-runs and -converge-runs must be at least 1")
	}
	b := newBench(t)

	// First runs: each on a fresh fleet; the last fleets stay up for the
	// no-op runs (provision's on the fleet provision converged, Ansible's
	// on Ansible's).
	var convProv, convAns series
	var provFleet, ansFleet *fleet
	for r := 1; r <= *flagConvergeRuns; r++ {
		last := r == *flagConvergeRuns && cn == n
		for _, tool := range []string{"provision", "ansible"} {
			measure := func(tb testing.TB) *fleet {
				f := b.boot(tb, cn)
				var d sample
				var o outcome
				if tool == "provision" {
					d, o = b.provision(tb, f.all)
					convProv = append(convProv, d)
				} else {
					d, o = b.ansible(tb, f.all, cn, false)
					convAns = append(convAns, d)
				}
				check(tb, tool+" first run", o, cn, true)
				b.logf("first run %d/%d of %s on %d fresh hosts: %s", r, *flagConvergeRuns, tool, cn, fmtDur(d.wall))
				return f
			}
			if last {
				f := measure(t)
				if tool == "provision" {
					provFleet = f
				} else {
					ansFleet = f
				}
				continue
			}
			if !t.Run(fmt.Sprintf("first-run-%s-%d", tool, r), func(t *testing.T) { measure(t) }) {
				t.FailNow()
			}
		}
	}
	if provFleet == nil {
		provFleet, ansFleet = b.boot(t, n), b.boot(t, n)
		_, o := b.provision(t, provFleet.all)
		check(t, "provision converge", o, n, true)
		_, o = b.ansible(t, ansFleet.all, n, false)
		check(t, "ansible converge", o, n, true)
	}

	// No-op re-runs: one untimed warm-up (which also proves the no-op and,
	// with connection sharing, opens the master connections), then the
	// timed runs.
	type noop struct {
		prov, provCP, ansOff, ansOn series
	}
	sizes := []int{1}
	if n != 1 {
		sizes = append(sizes, n)
	}
	results := map[int]*noop{}
	for _, size := range sizes {
		res := &noop{}
		results[size] = res
		pick := func(f *fleet, cp bool) string {
			switch {
			case size == 1 && cp:
				return f.oneCP
			case size == 1:
				return f.one
			case cp:
				return f.allCP
			}
			return f.all
		}
		for _, cp := range []bool{false, true} {
			inv := pick(provFleet, cp)
			_, o := b.provision(t, inv)
			check(t, fmt.Sprintf("provision no-op on %d", size), o, size, false)
			s := &res.prov
			if cp {
				s = &res.provCP
			}
			for i := 0; i < *flagRuns; i++ {
				d, o := b.provision(t, inv)
				check(t, "provision no-op", o, size, false)
				*s = append(*s, d)
			}
			b.logf("no-op provision on %d hosts (connection sharing %v): %s", size, cp, s.spread())
		}
		for _, facts := range []bool{false, true} {
			inv := pick(ansFleet, false)
			_, o := b.ansible(t, inv, size, facts)
			check(t, fmt.Sprintf("ansible no-op on %d (facts %v)", size, facts), o, size, false)
			s := &res.ansOff
			if facts {
				s = &res.ansOn
			}
			for i := 0; i < *flagAnsibleRuns; i++ {
				d, o := b.ansible(t, inv, size, facts)
				check(t, "ansible no-op", o, size, false)
				*s = append(*s, d)
			}
			b.logf("no-op ansible-playbook on %d hosts, facts %v: %s", size, facts, s.spread())
		}
	}

	// What the booted guests cost while nobody runs anything: a floor under
	// the machine CPU figures.
	cpu0, idleStart := machineCPU(), time.Now()
	time.Sleep(5 * time.Second)
	idle := float64(machineCPU()-cpu0) / float64(time.Since(idleStart))

	// The table.
	var md strings.Builder
	ratio := func(a, p time.Duration) string {
		if p == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fx", float64(a)/float64(p))
	}
	fmt.Fprintf(&md, "| run | hosts | provision | provision, ssh ControlPersist | ansible-playbook, facts off | ansible-playbook, facts on | Ansible's best / provision |\n")
	fmt.Fprintf(&md, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, size := range sizes {
		r := results[size]
		best := min(r.ansOff.median(), r.ansOn.median())
		fmt.Fprintf(&md, "| no-op re-run | %d | %s | %s | %s | %s | %s |\n", size, r.prov, r.provCP, r.ansOff, r.ansOn, ratio(best, r.prov.median()))
	}
	fmt.Fprintf(&md, "| first run, fresh hosts | %d | %s | | %s | | %s |\n", cn, convProv, convAns, ratio(convAns.median(), convProv.median()))

	rn, r1 := results[n], results[1]
	self := float64(rn.prov.median()) / float64(r1.prov.median())
	selfCP := float64(rn.provCP.median()) / float64(r1.provCP.median())
	bestN := min(rn.ansOff.median(), rn.ansOn.median())
	speedup := float64(bestN) / float64(rn.prov.median())
	speedupCP := float64(bestN) / float64(rn.provCP.median())
	var notes strings.Builder
	fmt.Fprintf(&notes, "\nTargets:\n")
	fmt.Fprintf(&notes, "- provision no-op on %d hosts / on 1 host: %.2fx (target at most 1.5x): %s; with ssh ControlPersist %.2fx\n", n, self, verdict(self <= 1.5), selfCP)
	fmt.Fprintf(&notes, "- Ansible's best no-op on %d hosts / provision's: %.1fx (target at least 20x): %s; with ssh ControlPersist %.1fx\n", n, speedup, verdict(speedup >= 20), speedupCP)
	fmt.Fprintf(&notes, "\nSpread (median wall, runs, min–max; median CPU time of the controller (tool and ssh clients) and of the whole machine, guests included):\n")
	for _, size := range sizes {
		r := results[size]
		fmt.Fprintf(&notes, "- no-op, %d hosts:\n  - provision %s\n  - provision, ssh ControlPersist %s\n  - ansible, facts off %s\n  - ansible, facts on %s\n", size, r.prov.spread(), r.provCP.spread(), r.ansOff.spread(), r.ansOn.spread())
	}
	fmt.Fprintf(&notes, "- first run, %d hosts:\n  - provision %s\n  - ansible, facts off %s\n", cn, convProv.spread(), convAns.spread())
	fmt.Fprintf(&notes, "- idle, %d guests booted: the machine is %.0f%% busy (of one core)\n", 2*n, 100*idle)

	fmt.Printf("\n%s\n%s%s", machine(b.bin), md.String(), notes.String())
	if *flagMarkdown != "" {
		if err := os.WriteFile(*flagMarkdown, []byte(machine(b.bin)+"\n"+md.String()+notes.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// machine describes this machine and the versions measured.
func machine(bin string) string {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	osName := "unknown"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	var s strings.Builder
	fmt.Fprintf(&s, "Machine: %s, %d cores (%s), kernel %s\n", osName, runtime.NumCPU(), cpu, first("uname", "-r"))
	fmt.Fprintf(&s, "Versions: %s (commit %s); %s; %s; %s\n", first(bin, "version"), first("git", "describe", "--always", "--dirty"), first("ansible-playbook", "--version"), first("go", "version"), first("ssh", "-V"))
	fmt.Fprintf(&s, "Hosts: testhost DebianPy guests (Debian 12, systemd-nspawn, one bridge), SSH as root, host keys checked\n")
	return s.String()
}
