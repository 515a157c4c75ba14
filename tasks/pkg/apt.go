package pkg

import (
	"context"
	"strings"

	"github.com/provision-tool/provision/tasks"
)

// aptBackend drives Debian and Ubuntu hosts: dpkg-query for what is
// installed, apt-cache policy for what the repositories offer, apt-get for
// transactions.
type aptBackend struct{}

// dpkgFormat asks dpkg-query for one tab-separated line per package
// instance. The architecture tells multiarch instances apart; ${Package}
// never carries the ":arch" qualifier.
const dpkgFormat = `--showformat=${Package}\t${Architecture}\t${Status}\t${Version}\n`

// aptEnv keeps apt and debconf from asking questions.
var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive"}

// aptOpts keep the old configuration file when a package ships a new one
// (conffile prompts would hang a non-interactive run) and wait for the dpkg
// lock held by, say, unattended-upgrades instead of failing at once.
var aptOpts = []string{
	"-o", "Dpkg::Options::=--force-confdef",
	"-o", "Dpkg::Options::=--force-confold",
	"-o", "DPkg::Lock::Timeout=300",
}

func (aptBackend) installed(ctx context.Context, sys *tasks.System, names []string) (map[string]pkgState, error) {
	// Query bare names: dpkg-query finds "tzdata" but not "tzdata:amd64"
	// (tzdata is Architecture: all), so the architecture is matched here.
	var bare []string
	seen := map[string]bool{}
	for _, n := range names {
		b, _ := splitArch(n)
		if !seen[b] {
			seen[b] = true
			bare = append(bare, b)
		}
	}
	c := tasks.Cmd{Argv: append([]string{"dpkg-query", "-W", dpkgFormat}, bare...)}
	res, err := sys.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	// Exit 1 means some names are unknown to dpkg ("dpkg-query: no packages
	// found matching X" on stderr); anything else is a real failure.
	if res.ExitCode != 0 && res.ExitCode != 1 {
		return nil, &tasks.ExitError{Cmd: c, Result: res}
	}
	type inst struct{ name, arch, status, version string }
	var found []inst
	for _, line := range strings.Split(res.Stdout, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		found = append(found, inst{f[0], f[1], f[2], f[3]})
	}
	out := make(map[string]pkgState, len(names))
	for _, n := range names {
		base, arch := splitArch(n)
		var s pkgState
		var versions []string
		for _, i := range found {
			if i.name != base || arch != "" && i.arch != arch && i.arch != "all" {
				continue
			}
			state := statusWord(i.status)
			switch state {
			case "not-installed", "config-files", "":
				continue
			case "installed", "triggers-awaiting", "triggers-pending":
				s.installed = true
			default: // half-installed, unpacked, half-configured
				s.status = state
			}
			s.removable = true
			versions = append(versions, i.version)
		}
		if s.installed {
			s.status = ""
		}
		s.version = strings.Join(versions, ", ")
		out[n] = s
	}
	return out, nil
}

// statusWord returns the package state, the last word of dpkg's
// "want flag state" Status field.
func statusWord(status string) string {
	f := strings.Fields(status)
	if len(f) != 3 {
		return ""
	}
	return f[2]
}

// splitArch splits "name:arch".
func splitArch(n string) (name, arch string) {
	if i := strings.LastIndexByte(n, ':'); i > 0 {
		return n[:i], n[i+1:]
	}
	return n, ""
}

func (aptBackend) repo(ctx context.Context, sys *tasks.System, missing, installed []string) (repoState, error) {
	rs := repoState{known: map[string]bool{}, upgrades: map[string]string{}}
	names := append(append([]string{}, missing...), installed...)
	if len(names) == 0 {
		return rs, nil
	}
	c := tasks.Cmd{Argv: append([]string{"apt-cache", "policy"}, names...)}
	res, err := sys.RunOK(ctx, c)
	if err != nil {
		return rs, err
	}
	pol := parsePolicy(res.Stdout)
	native := debArch(sys)
	lookup := func(n string) (policy, bool) {
		if p, ok := pol[n]; ok {
			return p, true
		}
		// apt-cache prints the native architecture (and "all") without
		// its qualifier: "coreutils:amd64" comes back as "coreutils:".
		if base, arch := splitArch(n); arch != "" && (arch == "all" || arch == native || native == "") {
			p, ok := pol[base]
			return p, ok
		}
		return policy{}, false
	}
	for _, n := range missing {
		if p, ok := lookup(n); ok && p.candidate != "" {
			rs.known[n] = true
		}
	}
	for _, n := range installed {
		if p, ok := lookup(n); ok && p.candidate != "" && p.installed != "" && p.candidate != p.installed {
			rs.upgrades[n] = p.candidate
		}
	}
	return rs, nil
}

// policy is one block of apt-cache policy output; "" stands for "(none)".
type policy struct{ installed, candidate string }

// parsePolicy reads apt-cache policy output (LC_ALL=C). Each known name
// gets a block headed "NAME:"; names apt does not know get none.
func parsePolicy(out string) map[string]policy {
	pol := map[string]policy{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			cur = ""
			if strings.HasSuffix(line, ":") {
				cur = strings.TrimSuffix(line, ":")
				if _, ok := pol[cur]; !ok {
					pol[cur] = policy{}
				}
			}
			continue
		}
		if cur == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "(none)" {
			v = ""
		}
		p := pol[cur]
		switch k {
		case "Installed":
			p.installed = v
		case "Candidate":
			p.candidate = v
		}
		pol[cur] = p
	}
	return pol
}

// debArch maps the kernel's machine name to Debian's architecture name, or
// "" when it does not know it.
func debArch(sys *tasks.System) string {
	if sys.Facts == nil {
		return ""
	}
	switch m := sys.Facts.Arch(); m {
	case "x86_64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "i386", "i486", "i586", "i686":
		return "i386"
	case "armv7l", "armv8l":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "s390x", "riscv64", "loong64", "mips64el":
		return m
	}
	return ""
}

func (aptBackend) apply(ctx context.Context, sys *tasks.System, d *planData, refresh bool) error {
	if len(d.remove) > 0 {
		argv := append(append([]string{"apt-get", "remove", "-y", "-q"}, aptOpts...), d.remove...)
		if _, err := sys.RunOK(ctx, tasks.Cmd{Argv: argv, Env: aptEnv}); err != nil {
			return transactionError(err)
		}
	}
	if len(d.install)+len(d.upgrade) == 0 {
		return nil
	}
	names := append(append(append([]string{}, d.install...), d.upgrade...), d.also...)
	if refresh {
		if _, err := sys.RunOK(ctx, tasks.Cmd{Argv: []string{"apt-get", "update", "-q"}, Env: aptEnv}); err != nil {
			return err
		}
	}
	// apt-get install both installs and upgrades, in one transaction.
	// Recommends are kept, as apt's default: Debian's podman relies on
	// them for uidmap, slirp4netns and dbus-user-session.
	argv := append(append([]string{"apt-get", "install", "-y", "-q"}, aptOpts...), names...)
	if _, err := sys.RunOK(ctx, tasks.Cmd{Argv: argv, Env: aptEnv}); err != nil {
		return transactionError(err)
	}
	return nil
}

// hint says when the package lists are empty, as in a fresh container
// image: nothing is known until apt-get update has run.
func (aptBackend) hint(sys *tasks.System) string {
	entries, _ := sys.ReadDir("/var/lib/apt/lists")
	for _, e := range entries {
		if strings.Contains(e.Name(), "_Packages") {
			return ""
		}
	}
	return "the apt package lists are empty: set update_cache: true"
}
