package hostfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Labels gives a new file the SELinux label the policy of the tree gives
// its path, as matchpathcon(8) and Ansible's atomic_move do. The policy is
// the one in the tree under Root, never the build machine's: with --root,
// the labels are those the image will boot with. It is read once (use one
// Labels per run), from Root's /etc/selinux/config and the text
// file_contexts of the type it names, with .homedirs, .local, .subs and
// .subs_dist, and looked up with libselinux's rules (see lookup).
type Labels struct {
	// Warnf reports once that SELinux is enabled in the tree but its
	// policy cannot be read; new files then keep the label the kernel
	// gives them. Nil makes that an error of every write.
	Warnf func(format string, args ...any)

	once sync.Once
	pol  *policy
	err  error
}

// NewLabels returns the Labels of one run, warning through warnf.
func NewLabels(warnf func(format string, args ...any)) *Labels {
	return &Labels{Warnf: warnf}
}

// policy is the tree's policy, or nil when SELinux is not enabled in it.
func (l *Labels) policy(f FS) (*policy, error) {
	if l == nil {
		return loadPolicy(f)
	}
	l.once.Do(func() {
		l.pol, l.err = loadPolicy(f)
		if l.err != nil && l.Warnf != nil {
			l.Warnf("%v", l.err)
			l.err = nil
		}
	})
	return l.pol, l.err
}

// Policy file bounds: a distribution's file_contexts is about 500 KB.
const (
	maxPolicyFile = 16 << 20
	maxConfigFile = 64 << 10
)

// selinuxConfig is where the tree says whether SELinux is enabled.
const selinuxConfig = "/etc/selinux/config"

var policyType = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// loadPolicy reads the policy of the tree: nil, nil when its
// /etc/selinux/config is missing or says SELINUX=disabled.
func loadPolicy(f FS) (*policy, error) {
	data, err := f.readBounded(selinuxConfig, maxConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("SELinux: cannot read %s: %w", selinuxConfig, err)
	}
	mode, typ := parseSELinuxConfig(data)
	if mode == "" || mode == "disabled" {
		return nil, nil
	}
	fail := func(err error) error {
		return fmt.Errorf("SELinux is %s in %s, but the file labels of its policy %q cannot be known: %w; new files keep the label the kernel gives them", mode, selinuxConfig, typ, err)
	}
	if !policyType.MatchString(typ) {
		return nil, fail(errors.New("not a policy name"))
	}
	dir := "/etc/selinux/" + typ + "/contexts/files/"
	p := &policy{}
	for _, name := range []string{"file_contexts", "file_contexts.homedirs", "file_contexts.local"} {
		data, err := f.readBounded(dir+name, maxPolicyFile)
		if errors.Is(err, fs.ErrNotExist) && name != "file_contexts" {
			continue
		}
		if err == nil {
			err = p.addSpecs(dir+name, data)
		}
		if err != nil {
			return nil, fail(err)
		}
	}
	// Local substitutions are tried before the distribution's.
	for _, name := range []string{"file_contexts.subs", "file_contexts.subs_dist"} {
		data, err := f.readBounded(dir+name, maxPolicyFile)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = p.addSubs(dir+name, data)
		}
		if err != nil {
			return nil, fail(err)
		}
	}
	p.sort()
	return p, nil
}

// parseSELinuxConfig returns the SELINUX and SELINUXTYPE values
// (SELINUXTYPE defaults to targeted, as in libselinux).
func parseSELinuxConfig(data []byte) (mode, typ string) {
	typ = "targeted"
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch {
		case !ok:
		case strings.TrimSpace(k) == "SELINUX":
			mode = strings.ToLower(v)
		case strings.TrimSpace(k) == "SELINUXTYPE":
			typ = v
		}
	}
	return mode, typ
}

// policy is a parsed file_contexts.
type policy struct {
	specs []spec
	subs  [][2]string // alias, real
	size  int         // estimated program size of all expressions
}

// maxPolicyProgram bounds the estimated size of the compiled programs of
// all of a policy's expressions (a 340 KB policy of 6000 lines needs
// 150,000 instructions): short lines such as "x{1000}" compile to large
// programs, and a hostile image's policy of such lines would take minutes
// and gigabytes at the first lookup.
const maxPolicyProgram = 2 << 20

// spec is one file_contexts line: a regular expression over the whole
// path, an optional file kind, and a label.
type spec struct {
	expr  string
	once  *sync.Once
	re    *regexp.Regexp
	stem  string // a literal prefix every match has
	kind  uint32 // 0: any
	label string // "" for <<none>>
	exact bool   // no regex metacharacter: libselinux prefers these
}

var specKinds = map[string]uint32{
	"--": unix.S_IFREG, "-d": unix.S_IFDIR, "-l": unix.S_IFLNK, "-p": unix.S_IFIFO,
	"-s": unix.S_IFSOCK, "-b": unix.S_IFBLK, "-c": unix.S_IFCHR,
}

// addSpecs parses the lines of a file_contexts file named name.
func (p *policy) addSpecs(name string, data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, size, err := parseSpec(strings.Fields(line))
		if err == nil && p.size+size > maxPolicyProgram {
			err = fmt.Errorf("its regular expressions are too large (more than %d instructions up to here)", maxPolicyProgram)
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
		p.size += size
		p.specs = append(p.specs, s)
	}
	return sc.Err()
}

// parseSpec parses the fields of a line, and estimates the size of its
// expression's program (progSize).
func parseSpec(f []string) (spec, int, error) {
	s := spec{once: new(sync.Once)}
	switch len(f) {
	case 2:
	case 3:
		k, ok := specKinds[f[1]]
		if !ok {
			return s, 0, fmt.Errorf("unknown file kind %q", f[1])
		}
		s.kind = k
	default:
		return s, 0, fmt.Errorf("want \"REGEX [KIND] LABEL\", got %d fields", len(f))
	}
	// Checked now, compiled at the first lookup its stem lets through: a
	// policy has thousands of lines, and a run looks up a few paths.
	s.expr = `^(?:` + f[0] + `)$`
	re, err := syntax.Parse(s.expr, syntax.Perl)
	if err != nil {
		return s, 0, fmt.Errorf("regular expression %q: %w", f[0], err)
	}
	s.stem, s.exact = stem(f[0]), !strings.ContainsAny(f[0], `.^$?*+|[({\`)
	if l := f[len(f)-1]; l != "<<none>>" {
		s.label = l
	}
	return s, progSize(re), nil
}

// progSize estimates, from above, the number of instructions the
// expression compiles to: a repetition repeats its body's program.
func progSize(re *syntax.Regexp) int {
	n := 1
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) + 1
	case syntax.OpRepeat:
		times := re.Max
		if times < 0 {
			times = re.Min + 1
		}
		return min(max(times, 1)*progSize(re.Sub[0]), maxPolicyProgram+1) + 1
	}
	for _, sub := range re.Sub {
		n = min(n+progSize(sub), maxPolicyProgram+1)
	}
	return n
}

// stem is the literal directory prefix of a regular expression: its text
// up to the first metacharacter, cut after the last slash before it.
func stem(re string) string {
	if strings.Contains(re, "|") {
		return ""
	}
	i := strings.IndexAny(re, `.^$?*+|[({\`)
	if i < 0 {
		i = len(re)
	}
	return re[:strings.LastIndexByte(re[:i], '/')+1]
}

// addSubs parses a file_contexts.subs file: "ALIAS REAL" per line, a path
// under ALIAS being labelled as the same path under REAL.
func (p *policy) addSubs(name string, data []byte) error {
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return fmt.Errorf("%s:%d: want \"ALIAS REAL\"", name, n+1)
		}
		p.subs = append(p.subs, [2]string{strings.TrimRight(f[0], "/"), f[1]})
	}
	return nil
}

// sort moves the exact paths after the regular expressions, keeping their
// order, as libselinux does: lookup takes the last match, so an exact
// path wins over any expression, and a later line over an earlier one.
func (p *policy) sort() {
	var re, exact []spec
	for _, s := range p.specs {
		if s.exact {
			exact = append(exact, s)
		} else {
			re = append(re, s)
		}
	}
	p.specs = append(re, exact...)
}

// lookup is the label of a new file of kind at the host path hp, with a
// trailing NUL as libselinux sets it; nil for <<none>> or no match.
func (p *policy) lookup(hp string, kind uint32) []byte {
	for _, s := range p.subs {
		if rest, ok := strings.CutPrefix(hp, s[0]); ok && (rest == "" || rest[0] == '/') {
			hp = s[1] + rest
			break
		}
	}
	for i := len(p.specs) - 1; i >= 0; i-- {
		s := &p.specs[i]
		if s.kind != 0 && s.kind != kind || !strings.HasPrefix(hp, s.stem) || !s.match(hp) {
			continue
		}
		if s.label == "" {
			return nil
		}
		return append([]byte(s.label), 0)
	}
	return nil
}

// match compiles the expression once and matches hp. It parsed when the
// policy was read; only the compiled program's size limit, which no
// path expression of a line comes near, could still fail it, and a spec
// that cannot compile matches nothing.
func (s *spec) match(hp string) bool {
	s.once.Do(func() { s.re, _ = regexp.Compile(s.expr) })
	return s.re != nil && s.re.MatchString(hp)
}
