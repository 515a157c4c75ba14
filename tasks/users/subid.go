package users

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
)

// DefaultCount is the number of subordinate IDs SubID gives when count is
// not set: what useradd gives and Podman's documentation asks for.
const DefaultCount = 65536

// SubID gives a user non-overlapping ranges of subordinate UIDs and GIDs
// in /etc/subuid and /etc/subgid, editing the files under shadow's locks.
type SubID struct {
	User  string `yaml:"user" required:"true" doc:"login name of the user who gets the ranges"`
	Count int64  `yaml:"count" default:"65536" min:"1" doc:"number of subordinate IDs the user needs in each file (at least 1, the same for UIDs and GIDs)"`
}

func init() {
	tasks.Register(tasks.Module{
		Name:    "subid",
		Summary: "give a user non-overlapping subordinate UID and GID ranges for rootless containers",
		Doc: `Makes sure the user owns at least ` + "`count`" + ` subordinate IDs in
/etc/subuid and in /etc/subgid, in ranges that overlap no other owner's
range and contain no UID (GID) in use on the host. The two files are
handled independently, each the same way.

**How Check decides.** A range belongs to the user when its owner field is
the login name or the numeric UID (both are valid, see subuid(5)). The
user's ranges that overlap another owner's range, or contain a UID from
/etc/passwd (for /etc/subgid: a GID from /etc/group or a primary GID),
including the user's own, are unusable. When the usable ones add up to
` + "`count`" + ` IDs or more they are kept and only the unusable lines
are removed; an adequate range is never moved. Otherwise every line of
the user is replaced by one new line ` + "`NAME:START:COUNT`" + `, with START
the lowest ID from SUB_UID_MIN (SUB_GID_MIN) in /etc/login.defs such that
the whole range stays at or below SUB_UID_MAX (SUB_GID_MAX), overlaps no
range left in the file (also none that shadow or containers/storage could
read from a malformed or commented-out line) and contains no ID in use.
The same files give the same result on every host. When no such hole is
left, the task fails.

**What Apply does.** Like shadow's tools: it takes the lckpwdf(3) lock on
/etc/.pwd.lock (waiting up to 15 s), then /etc/subuid.lock and
/etc/subgid.lock with shadow's link-of-a-PID-file protocol (a stale lock of
a dead process is removed; a live one fails the task), reads the files
again under the lock and recomputes, and writes each changed file
atomically, keeping the old one as /etc/subuid- (/etc/subgid-), its owner,
mode and SELinux label. Missing files are created 0644 root:root (Debian
may not ship them), with the SELinux label the host's policy gives them,
as every file provision writes (docs/security.md). Untouched lines,
comments and blank lines are kept byte for byte, in order; a new line
goes at the end.

**Caveats.** Other users' lines are never changed. A malformed line, an
overlap between other owners or another owner's range containing an ID in
use is reported as a warning: fix those by hand, as rootless Podman may
reject the whole file. IDs served by NSS (LDAP, SSSD) rather than
/etc/passwd and /etc/group are not known to this task (a warning says so
when nsswitch.conf uses such a source). After a user's ranges change, run
` + "`podman system migrate`" + ` as that user (notify a handler).`,
		Example: `- name: give alice subordinate IDs
  subid:
    user: alice
    count: 65536
- name: a bigger range for a user of podman run --userns=auto
  subid:
    user: builder
    count: 1000000`,
		New: func() tasks.Task { return new(SubID) },
	})
}

// Validate checks the arguments.
func (s *SubID) Validate() error {
	if err := checkSubIDUser(s.User); err != nil {
		return err
	}
	if s.Count < 0 || s.Count >= IDLimit {
		return tasks.BadArg("count", fmt.Sprintf("count %d is out of range (1 to %d)", s.Count, int64(IDLimit-1)))
	}
	return nil
}

func checkSubIDUser(name string) error {
	switch {
	case name == "":
		return tasks.BadArg("user", "a user name is required")
	case strings.ContainsAny(name[:1], "-+#"):
		return tasks.BadArg("user", fmt.Sprintf("user name %q may not start with %q", name, name[:1]))
	case strings.ContainsRune(name, ':'):
		return tasks.BadArg("user", fmt.Sprintf("user name %q contains a colon", name))
	}
	for _, c := range name {
		if c <= ' ' || c == 0x7f || c == 0x85 || c == 0xa0 {
			return tasks.BadArg("user", fmt.Sprintf("user name %q contains whitespace or a control character", name))
		}
	}
	return nil
}

func (s *SubID) count() int64 {
	if s.Count == 0 {
		return DefaultCount
	}
	return s.Count
}

// subidKind is one of the two files.
type subidKind struct {
	path   string // "/etc/subuid"
	field  string // "subuid"
	idName string // "UID"
}

var (
	subuidKind = subidKind{path: "/etc/subuid", field: "subuid", idName: "UID"}
	subgidKind = subidKind{path: "/etc/subgid", field: "subgid", idName: "GID"}
	subidKinds = []subidKind{subuidKind, subgidKind}
)

// subidData is what Check hands Apply: the files to rewrite.
type subidData struct {
	Files []string
}

// subject is the user and the host's accounts, as read now.
type subject struct {
	name  string // the name to write
	uid   int64
	known bool
	key   func(string) string
	uids  idSet
	gids  idSet
	ld    facts.LoginDefs
}

// idSet is the sorted IDs in use and who uses them.
type idSet struct {
	ids []int64
	by  map[int64]string
}

func newIDSet() idSet { return idSet{by: map[int64]string{}} }

func (s *idSet) add(id int64, who string) {
	if _, ok := s.by[id]; !ok {
		s.by[id] = who
		s.ids = append(s.ids, id)
	}
}

func (s *SubID) subject(sys *tasks.System) (subject, error) {
	users, err := sys.Facts.Users()
	if err != nil {
		return subject{}, fmt.Errorf("read users: %w", err)
	}
	groups, err := sys.Facts.Groups()
	if err != nil {
		return subject{}, fmt.Errorf("read groups: %w", err)
	}
	sub := subject{name: s.User, key: OwnerKey(users), uids: newIDSet(), gids: newIDSet(), ld: sys.Facts.LoginDefs()}
	var byUID *facts.User
	for i, u := range users {
		if u.Name == s.User {
			sub.uid, sub.known = u.UID, true
			break
		}
		if byUID == nil && isCanonicalNumber(s.User) && strconv.FormatInt(u.UID, 10) == s.User {
			byUID = &users[i]
		}
	}
	if !sub.known && byUID != nil {
		sub.name, sub.uid, sub.known = byUID.Name, byUID.UID, true
	}
	if !sub.known && isCanonicalNumber(s.User) {
		return subject{}, fmt.Errorf("no user with UID %s", s.User)
	}
	for _, u := range users {
		sub.uids.add(u.UID, "user "+u.Name)
	}
	for _, g := range groups {
		sub.gids.add(g.GID, "group "+g.Name)
	}
	for _, u := range users {
		sub.gids.add(u.GID, "primary group of "+u.Name)
	}
	sort.Slice(sub.uids.ids, func(i, j int) bool { return sub.uids.ids[i] < sub.uids.ids[j] })
	sort.Slice(sub.gids.ids, func(i, j int) bool { return sub.gids.ids[i] < sub.gids.ids[j] })
	return sub, nil
}

func (sub subject) input(k subidKind, data []byte, count int64) fileInput {
	in := fileInput{path: k.path, idName: k.idName, data: data, user: sub.name, uid: sub.uid,
		known: sub.known, count: count, key: sub.key}
	if k == subuidKind {
		in.min, in.max, in.used = sub.ld.SubUIDMin, sub.ld.SubUIDMax, sub.uids
	} else {
		in.min, in.max, in.used = sub.ld.SubGIDMin, sub.ld.SubGIDMax, sub.gids
	}
	return in
}

// Check plans the changes to /etc/subuid and /etc/subgid.
func (s *SubID) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if err := s.Validate(); err != nil {
		return p, err
	}
	sub, err := s.subject(sys)
	if err != nil {
		return p, err
	}
	if !sub.known {
		p.Warn(fmt.Sprintf("user %s does not exist (yet): ranges are planned by name only, and apply fails unless an earlier task creates the user", s.User))
	}
	for _, w := range nssWarnings(sys) {
		p.Warn(w)
	}
	var data subidData
	for _, k := range subidKinds {
		disk, exists, err := readSubidFile(sys, k.path)
		if err != nil {
			return tasks.Plan{}, err
		}
		// Plan on top of what earlier subid tasks of this run planned for
		// a file still as they saw it (check mode), so that two users are
		// never planned into the same range.
		old := disk
		key := "subid:" + k.path
		if v, ok := sys.Memo.Load(key); ok {
			if m := v.(plannedFile); bytes.Equal(m.base, disk) {
				old = m.planned
			}
		}
		res, err := planFile(sub.input(k, old, s.count()))
		if err != nil {
			return tasks.Plan{}, err
		}
		p.Warnings = append(p.Warnings, res.warnings...)
		planned := old
		if res.changed {
			planned = res.content
		}
		sys.Memo.Store(key, plannedFile{base: disk, planned: planned})
		if exists {
			if st, err := sys.Stat(k.path); err == nil && st.Mode().Perm()&0o004 == 0 {
				p.Warn(fmt.Sprintf("%s has mode %04o: rootless Podman without libsubid reads it as the user and needs it world-readable (0644)", k.path, st.Mode().Perm()))
			}
		}
		if !res.changed {
			continue
		}
		p.Add(k.field, strings.Join(res.before, ","), strings.Join(res.after, ","))
		p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: k.path, Before: string(old), After: string(res.content)})
		data.Files = append(data.Files, k.path)
	}
	p.Data = data
	return p, nil
}

// plannedFile is a subid file as a Check found it on disk (base) and as it
// will be once the planned changes are applied.
type plannedFile struct{ base, planned []byte }

// readSubidFile reads a subid file; a missing file reads as empty. Like
// shadow (which opens it O_NOFOLLOW), it refuses anything but a regular
// file.
func readSubidFile(sys *tasks.System, path string) (data []byte, exists bool, err error) {
	st, err := sys.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !st.Mode().IsRegular() {
		return nil, false, fmt.Errorf("%s is not a regular file (%v)", path, st.Mode().Type())
	}
	data, err = sys.ReadFile(path)
	return data, err == nil, err
}

// Apply rewrites the files Check planned to change, under shadow's locks,
// after reading them again and recomputing the ranges.
func (s *SubID) Apply(ctx context.Context, sys *tasks.System, p tasks.Plan) (err error) {
	d, ok := p.Data.(subidData)
	if !ok {
		return errors.New("subid: plan has no data from check")
	}
	if len(d.Files) == 0 {
		return nil
	}
	release := func(unlock func() error) {
		if uerr := unlock(); err == nil {
			err = uerr
		}
	}
	unlockPwd, err := LockPasswd(ctx, sys)
	if err != nil {
		return err
	}
	defer release(unlockPwd)
	for _, f := range d.Files {
		unlock, err := LockFile(sys, f)
		if err != nil {
			return err
		}
		defer release(unlock)
	}
	sub, err := s.subject(sys)
	if err != nil {
		return err
	}
	if !sub.known {
		return fmt.Errorf("no such user %s", s.User)
	}
	for _, k := range subidKinds {
		if !contains(d.Files, k.path) {
			continue
		}
		old, exists, err := readSubidFile(sys, k.path)
		if err != nil {
			return err
		}
		res, err := planFile(sub.input(k, old, s.count()))
		if err != nil {
			return err
		}
		if !res.changed {
			continue
		}
		if err := writeSubidFile(sys, k.path, res.content, exists); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeSubidFile replaces path atomically, keeping the old file as
// "path-" with its owner, mode and times (as shadow's create_backup
// does); the new file keeps the old one's owner, mode and SELinux label
// (tasks/hostfs). A new file is 0644 root:root.
func writeSubidFile(sys *tasks.System, path string, data []byte, exists bool) error {
	hp := sys.MustPath(path)
	attrs := tasks.FileAttrs{Mode: 0o644, UID: 0, GID: 0}
	var oldTime time.Time
	if exists {
		attrs = tasks.KeepOwner
		if st, err := os.Stat(hp); err == nil {
			oldTime = st.ModTime()
		}
	}
	backup := ""
	if exists {
		backup = path + "-"
	}
	if err := sys.WriteFile(path, data, attrs, backup); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if backup != "" && !oldTime.IsZero() {
		_ = os.Chtimes(sys.MustPath(backup), oldTime, oldTime)
	}
	return nil
}

// fileInput is everything the plan of one file depends on.
type fileInput struct {
	path   string // for messages: "/etc/subuid"
	idName string // "UID" or "GID"
	data   []byte
	user   string // the login name to write
	uid    int64
	known  bool // the user exists, uid is valid
	count  int64
	min    int64 // SUB_UID_MIN
	max    int64 // SUB_UID_MAX
	used   idSet // IDs in use on the host
	key    func(owner string) string
}

// fileResult is the planned outcome for one file.
type fileResult struct {
	changed  bool
	before   []string // the user's entries now
	after    []string // the user's entries afterwards
	content  []byte
	warnings []string
}

// maxWarnings caps each kind of warning about other owners' lines.
const maxWarnings = 10

// planFile decides what becomes of one subid file. It is a pure function
// of its input, so Check and Apply (under the lock) agree.
func planFile(in fileInput) (fileResult, error) {
	var res fileResult
	lines := splitLines(in.data)
	uidStr := ""
	if in.known {
		uidStr = strconv.FormatInt(in.uid, 10)
	}
	own := func(owner string) bool { return owner == in.user || uidStr != "" && owner == uidStr }
	userKey := in.key(in.user)

	var (
		ownIdx     []int   // the user's lines: valid or not
		others     []Range // valid ranges of other lines, the user's aliases included
		conflicts  []Range // ranges of owners other than the user, as any reader could see them
		blocking   []Range // ranges allocation must avoid (besides the user's)
		otherProbs []string
	)
	others = make([]Range, 0, len(lines))
	blocking = make([]Range, 0, len(lines))
	conflicts = make([]Range, 0, len(lines))
	for i, l := range lines {
		switch l.kind {
		case lineRange:
			if own(l.r.Owner) {
				ownIdx = append(ownIdx, i)
				continue
			}
			others = append(others, l.r)
			blocking = append(blocking, l.r)
			if in.key(l.r.Owner) != userKey {
				conflicts = append(conflicts, l.r)
			}
		case lineBad:
			first, _, _ := strings.Cut(l.text, ":")
			if own(first) {
				ownIdx = append(ownIdx, i)
				continue
			}
			otherProbs = append(otherProbs, fmt.Sprintf("%s:%d: malformed line (%s): left unchanged, but fix it, since rootless Podman may reject the whole file", in.path, l.n, l.msg))
			for _, r := range lenientRanges(l.text) {
				r.Line = l.n
				blocking = append(blocking, r)
				if in.key(r.Owner) != userKey {
					conflicts = append(conflicts, r)
				}
			}
		case lineComment:
			for _, r := range lenientRanges(l.text) {
				r.Line = l.n
				blocking = append(blocking, r)
			}
		}
	}
	res.warnings = append(res.warnings, capped(otherProbs, "malformed lines")...)
	res.warnings = append(res.warnings, otherWarnings(in, others)...)

	// Sort the user's lines into usable ranges and the rest.
	var good []Range
	var reasons []string
	bad := map[int]bool{}
	for _, i := range ownIdx {
		l := lines[i]
		if l.kind == lineBad {
			bad[i] = true
			reasons = append(reasons, fmt.Sprintf("%s:%d: %s's line is malformed (%s)", in.path, l.n, in.user, l.msg))
			continue
		}
		if c, ok := firstOverlap(l.r, conflicts); ok {
			bad[i] = true
			reasons = append(reasons, fmt.Sprintf("%s:%d: %s's range %s overlaps %s's range %s (line %d)", in.path, l.n, in.user, l.r, c.Owner, c, c.Line))
			continue
		}
		if id, ok := FirstContained(l.r, in.used.ids); ok {
			bad[i] = true
			reasons = append(reasons, fmt.Sprintf("%s:%d: %s's range %s contains %s %d, in use by %s", in.path, l.n, in.user, l.r, in.idName, id, in.used.by[id]))
			continue
		}
		good = append(good, l.r)
	}
	for _, i := range ownIdx {
		res.before = append(res.before, entryString(lines[i]))
	}
	total := unionSize(good)
	if len(bad) == 0 && total >= in.count {
		res.after = res.before
		res.content = in.data
		return res, nil
	}

	var newRange *Range
	remove := bad
	if total < in.count {
		if len(ownIdx) > 0 {
			reasons = append(reasons, fmt.Sprintf("%s: %s has %d usable IDs, wants %d", in.path, in.user, total, in.count))
		}
		remove = map[int]bool{}
		for _, i := range ownIdx {
			remove[i] = true
		}
		start, ok := FreeStart(blocking, in.used.ids, in.min, in.max, in.count)
		if !ok {
			return fileResult{}, fmt.Errorf("%s: no free range of %d IDs left between %d and %d (SUB_%s_MIN and SUB_%s_MAX in /etc/login.defs)",
				in.path, in.count, in.min, in.max, in.idName, in.idName)
		}
		newRange = &Range{Owner: in.user, Start: start, Count: in.count}
	}
	for _, i := range ownIdx {
		if !remove[i] {
			res.after = append(res.after, entryString(lines[i]))
		}
	}
	var b strings.Builder
	b.Grow(len(in.data) + 64)
	for i, l := range lines {
		if !remove[i] {
			b.WriteString(l.raw)
		}
	}
	if newRange != nil {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d:%d\n", newRange.Owner, newRange.Start, newRange.Count)
		res.after = append(res.after, newRange.String())
	}
	res.content = []byte(b.String())
	res.changed = string(res.content) != string(in.data)
	res.warnings = append(res.warnings, reasons...)
	return res, nil
}

// entryString renders one of the user's lines for the plan: START:COUNT,
// or the quoted line when it is malformed.
func entryString(l fileLine) string {
	if l.kind == lineRange {
		return l.r.String()
	}
	return strconv.Quote(l.text)
}

// otherWarnings reports overlaps between other owners and other owners'
// ranges that contain IDs in use.
func otherWarnings(in fileInput, others []Range) []string {
	var ov []string
	for _, o := range Overlaps(others, in.key) {
		ov = append(ov, fmt.Sprintf("%s:%d: %s's range %s overlaps %s's range %s (line %d): each can reach the other's files",
			in.path, o.A.Line, o.A.Owner, o.A, o.B.Owner, o.B, o.B.Line))
	}
	var used []string
	for _, r := range others {
		if id, ok := FirstContained(r, in.used.ids); ok {
			used = append(used, fmt.Sprintf("%s:%d: %s's range %s contains %s %d, in use by %s",
				in.path, r.Line, r.Owner, r, in.idName, id, in.used.by[id]))
		}
	}
	return append(capped(ov, "overlaps"), capped(used, "ranges containing IDs in use")...)
}

func capped(msgs []string, what string) []string {
	if len(msgs) <= maxWarnings {
		return msgs
	}
	return append(msgs[:maxWarnings:maxWarnings], fmt.Sprintf("... and %d more %s", len(msgs)-maxWarnings, what))
}

// firstOverlap returns the range of rs with the lowest line that overlaps r.
func firstOverlap(r Range, rs []Range) (Range, bool) {
	var best Range
	found := false
	for _, o := range rs {
		if r.Overlaps(o) && (!found || o.Line < best.Line) {
			best, found = o, true
		}
	}
	return best, found
}

// unionSize counts the distinct IDs in rs.
func unionSize(rs []Range) int64 {
	s := append([]Range(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Start < s[j].Start })
	var total, end int64
	for _, r := range s {
		lo := r.Start
		if lo < end {
			lo = end
		}
		if r.End() > lo {
			total += r.End() - lo
			end = r.End()
		}
	}
	return total
}

// localNSS are nsswitch sources that read local files.
var localNSS = map[string]bool{"files": true, "compat": true, "systemd": true, "db": true,
	"altfiles": true, "extrausers": true, "cache": true, "mymachines": true}

// nssWarnings reports nsswitch.conf settings that make the files or the
// local accounts an incomplete picture.
func nssWarnings(sys *tasks.System) []string {
	data, _, _ := sys.ReadFileIfExists("/etc/nsswitch.conf")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		db, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		db = strings.TrimSpace(db)
		var remote []string
		for _, src := range strings.Fields(rest) {
			if strings.HasPrefix(src, "[") {
				continue
			}
			if !localNSS[src] {
				remote = append(remote, src)
			}
		}
		switch {
		case db == "subid" && len(strings.Fields(rest)) > 0 && strings.Fields(rest)[0] != "files":
			out = append(out, fmt.Sprintf("/etc/nsswitch.conf sets \"subid: %s\": shadow's libsubid reads ranges from there, not from /etc/subuid and /etc/subgid", strings.TrimSpace(rest)))
		case (db == "passwd" || db == "group") && len(remote) > 0:
			out = append(out, fmt.Sprintf("/etc/nsswitch.conf: %s also comes from %s; IDs served that way are not checked against the ranges", db, strings.Join(remote, ", ")))
		}
	}
	return out
}

var _ tasks.Task = (*SubID)(nil)
