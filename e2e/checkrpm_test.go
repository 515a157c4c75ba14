//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// rpmCheckBook asks for two stub packages the fresh RPM guest lacks.
const rpmCheckBook = `- hosts: all
  tasks:
    - name: rootless helpers
      package: {names: [slirp4netns, fuse-overlayfs]}
`

// rpmUnknownBook names a package no repository has.
const rpmUnknownBook = `- hosts: all
  tasks:
    - name: a misspelt name
      package: {names: [slirp4netns, podmn]}
`

// TestCheckLeavesRPMHostUntouched proves that provision check on a dnf and
// a yum host writes nothing at all on the guest's disk (no metadata cache,
// no dnf log, no history), both before the host has any metadata cache
// (dnf's cache-only query fails and a temp cache answers) and with one (the
// cache is read, not refreshed, although the test repository's
// metadata_expire=0 says it is always stale, and the repository is
// offline so that nothing else could answer), while still telling the
// truth: missing packages pending, an unknown name an error found by
// really asking the repository.
func TestCheckLeavesRPMHostUntouched(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	for _, kind := range []testhost.Kind{testhost.Fedora, testhost.DNF5, testhost.Yum} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			st := newStageLog(t)
			h := testhost.Boot(t, kind, testhost.Options{})
			h.InstallProvision(t)
			book, unknown := "/root/check.yml", "/root/unknown.yml"
			for p, s := range map[string]string{book: rpmCheckBook, unknown: rpmUnknownBook} {
				if err := h.WriteFile(p, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			pm := map[testhost.Kind]string{testhost.Fedora: "dnf", testhost.DNF5: "dnf5", testhost.Yum: "yum"}[kind]
			check := func(what string) {
				disk := strictDiskSnapshot(t, h)
				r := runBook(t, st, h, 2, "check ("+what+")", "check", book)
				e := r.find(t, "rootless helpers", nil)
				if e.Status != "changed" || len(e.Changes) != 2 {
					r.errorf(t, "%s: want both packages pending, got %s %+v", what, e.Status, e.Changes)
				}
				expectSameTree(t, r, "check ("+what+"): disk", disk, strictDiskSnapshot(t, h), rpmdbShm...)
				r = runBook(t, st, h, 1, "check unknown ("+what+")", "check", unknown)
				if e := r.find(t, "a misspelt name", nil); e.Status != "failed" || !strings.Contains(e.Error, `unknown package "podmn"`) {
					r.errorf(t, "%s: want the unknown name found, got %s %q", what, e.Status, e.Error)
				}
				expectSameTree(t, r, "check unknown ("+what+"): disk", disk, strictDiskSnapshot(t, h), rpmdbShm...)
			}
			if n := h.SSH(t, "find /var/cache/dnf /var/cache/yum /var/cache/libdnf5 -name repomd.xml 2>/dev/null | wc -l"); n != "0" {
				t.Fatalf("the fresh guest has a metadata cache already (%s repomd.xml)", n)
			}
			check("no metadata cache")
			h.SSH(t, pm+" -q makecache >/dev/null")
			// With an empty directory over the repository, only the host's cache can answer:
			// the check reads it (a temp cache could not download).
			h.SSH(t, "mount -t tmpfs offline "+testhost.GuestRPMRepo)
			check("with a metadata cache, repository offline")
			h.SSH(t, "umount "+testhost.GuestRPMRepo)
		})
	}
}

// rpmdbShm are the files SQLite keeps beside the rpmdb for its readers
// (the shared-memory index, created or touched by every rpm -q, and the
// write-ahead log, empty after a read) and their directory. No query can
// open the rpmdb without them; the database itself must stay unchanged.
//
// rpm 4.19 and later (Debian forky's 4.20 on the dnf5 host, as Fedora 40
// and later) also create the empty lock file .keyring.lock there on the
// first query.
var rpmdbShm = []string{"/var/lib/rpm", "/var/lib/rpm/rpmdb.sqlite-shm", "/var/lib/rpm/rpmdb.sqlite-wal", "/var/lib/rpm/.keyring.lock"}

// strictDiskSnapshot is diskSnapshot without diskNoise's dnf and rpm
// entries: only the journal (the harness's SSH logins) and root's
// container storage are left out.
func strictDiskSnapshot(t testing.TB, h *testhost.Host) treeSnap {
	t.Helper()
	upper := overlayUpper(t, h.Root())
	snap := takeSnapshot(t, upper, "/", "/var/log/journal", "/var/lib/containers/storage")
	for p, e := range takeSnapshot(t, h.Home(), "/home") {
		snap["home:"+p] = e
	}
	return snap
}
