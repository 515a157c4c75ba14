//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// pausePID returns the PID in user's pause.pid when that process is alive,
// else "".
func pausePID(t *testing.T, h *testhost.Host, user string) string {
	t.Helper()
	uid := h.SSH(t, "id -u "+user)
	return h.SSH(t, fmt.Sprintf(`p=$(cat /run/user/%s/libpod/tmp/pause.pid 2>/dev/null) && kill -0 "$p" 2>/dev/null && [ "$(stat -c %%u /proc/$p)" = %s ] && echo "$p" || true`, uid, uid))
}

// TestPodmanMigrate proves the migrate podman handler of
// examples/rootless-podman.yml is honest with the real podman on every
// kind that has it (podmanKinds but Yum, whose podman is the Fedora kind's):
// it runs for exactly the users whose ranges changed, migrates only when
// the user's running pause process holds a stale mapping, and afterwards
// the user's namespace is the one /etc/subuid gives.
func TestPodmanMigrate(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	for _, kind := range slices.DeleteFunc(slices.Clone(podmanKinds), func(k testhost.Kind) bool { return k == testhost.Yum }) {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testMigrate(t, kind)
		})
	}
}

func testMigrate(t *testing.T, kind testhost.Kind) {
	st := newStageLog(t)
	h := testhost.Boot(t, kind, testhost.Options{})
	h.InstallProvision(t)
	book := installExample(t, h, rootlessBook)
	baseImage(t, h)
	runBook(t, st, h, 0, "apply (first) "+rootlessBook, "apply", book)

	// Lingering keeps /run/user/UID (and so pause.pid) between the SSH
	// logins of this test, as for a user whose services run podman.
	h.SSH(t, "loginctl enable-linger alice bob")
	for _, u := range []string{"alice", "bob"} {
		h.AuthorizeUser(t, u)
		h.SSHAs(t, u, "podman unshare true")
	}
	aliceUID := h.SSH(t, "id -u alice")
	r0 := subidRange(t, h, "/etc/subuid", "alice")
	bobRange := strings.Split(subidRange(t, h, "/etc/subuid", "bob"), ":")
	alicePause, bobPause := pausePID(t, h, "alice"), pausePID(t, h, "bob")
	if alicePause == "" || bobPause == "" {
		t.Fatalf("no live pause process after podman unshare: alice %q, bob %q", alicePause, bobPause)
	}
	start := strings.Split(r0, ":")

	// Brief order: the pause process runs with alice's range R0; then her
	// line is replaced by hand with one at another start that overlaps
	// bob's. subid must move her back to the lowest free range, which is
	// R0 again, and the handler runs for alice but has nothing to migrate:
	// her namespace already matches.
	t.Run("range changed back to what the namespace holds", func(t *testing.T) {
		bobStart, _ := strconv.ParseInt(bobRange[0], 10, 64)
		overlap := fmt.Sprintf("%d:%s", bobStart+1000, start[1])
		h.SSH(t, fmt.Sprintf(`sed -i 's/^alice:%s$/alice:%s/' /etc/subuid && grep -qx 'alice:%s' /etc/subuid`, r0, overlap, overlap))
		r := runBook(t, st, h, 0, "apply (alice's range overlaps bob's)", "apply", book)
		r.expectChanged(t, taskSubid+"[alice]")
		before, after := changeOf(t, r, r.find(t, taskSubid, "alice"), "subuid", "")
		if before != overlap || after != r0 {
			r.errorf(t, "alice's subuid change %q -> %q, want %q -> %q", before, after, overlap, r0)
		}
		mig := r.results(isHandler)
		if len(mig) != 1 || mig[0].Task != handlerMigrate || fmt.Sprint(mig[0].Item) != "alice" || mig[0].Status != "ok" {
			r.errorf(t, "handler results %q, want one %q for alice, ok (the pause process already has %s):\n%s", resultKeys(mig), handlerMigrate, r0, describeResults(mig))
		}
		if got := pausePID(t, h, "alice"); got != alicePause {
			t.Errorf("alice's pause process %q, want the same %s (nothing to migrate)", got, alicePause)
		}
		if got := pausePID(t, h, "bob"); got != bobPause {
			t.Errorf("bob's pause process %q, want the same %s", got, bobPause)
		}
	})

	// Alice's line is replaced by hand with a different start and too few
	// IDs, and her pause process is restarted on it (podman system migrate,
	// then podman unshare): the running namespace is now the hand-made one.
	// apply must give her a proper range again, the handler must migrate
	// alice (and only alice), and her next podman command must see the
	// range /etc/subuid now has.
	t.Run("stale namespace migrated", func(t *testing.T) {
		small := "300000:1000"
		h.SSH(t, fmt.Sprintf(`sed -i 's/^alice:.*$/alice:%s/' /etc/subuid && grep -qx 'alice:%s' /etc/subuid`, small, small))
		h.SSHAs(t, "alice", "podman system migrate && podman unshare true")
		stale := pausePID(t, h, "alice")
		if stale == "" || stale == alicePause {
			t.Fatalf("alice's pause process after the manual migrate: %q (before: %s)", stale, alicePause)
		}
		expectMap(t, h.SSH(t, "cat /proc/"+stale+"/uid_map"), "uid_map of alice's new pause process", aliceUID, strings.Split(small, ":"))

		r := runBook(t, st, h, 0, "apply (alice's namespace is stale)", "apply", book)
		r.expectChanged(t, taskSubid+"[alice]", "handler "+handlerMigrate+"[alice]")
		before, after := changeOf(t, r, r.find(t, taskSubid, "alice"), "subuid", "")
		if before != small || after != r0 {
			r.errorf(t, "alice's subuid change %q -> %q, want %q -> %q", before, after, small, r0)
		}
		mig := r.find(t, handlerMigrate, "alice")
		if !mig.Handler {
			r.errorf(t, "%s is not reported as a handler", resultKey(mig))
		}
		nsBefore, nsAfter := changeOf(t, r, mig, "user namespace", "")
		if !strings.Contains(nsBefore, "1 300000 1000") || !strings.Contains(nsAfter, "1 "+start[0]+" "+start[1]) {
			r.errorf(t, "migrate change %q -> %q, want the stale 300000:1000 replaced by %s", nsBefore, nsAfter, r0)
		}
		if bob := r.results(isHandler, func(e report.Event) bool { return fmt.Sprint(e.Item) == "bob" }); len(bob) > 0 {
			r.errorf(t, "the handler ran for bob, whose range did not change:\n%s", describeResults(bob))
		}
		if got := pausePID(t, h, "alice"); got == stale {
			t.Errorf("alice's stale pause process %s still runs after migrate", stale)
		}
		if got := pausePID(t, h, "bob"); got != bobPause {
			t.Errorf("bob's pause process %q, want the same %s: bob was migrated", got, bobPause)
		}
		expectMap(t, h.SSHAs(t, "alice", "podman unshare cat /proc/self/uid_map"), "alice's uid_map after apply", aliceUID, start)
		if got := subidRange(t, h, "/etc/subuid", "alice"); got != r0 {
			t.Errorf("alice's range after apply: %s, want %s", got, r0)
		}
		runBook(t, st, h, 0, "check (after migrate)", "check", book).expectChanged(t)
	})
}
