package testhost

import (
	"io/fs"
	"regexp"
	"slices"
	"testing"
)

func TestRPMVersion(t *testing.T) {
	for deb, want := range map[string]string{
		"4.3.1+ds1-8+deb12u1+b3":    "4.3.1",
		"1:4.13+dfsg1-1+deb12u2":    "4.13",
		"3.14.0-4":                  "3.14.0",
		"0.0~git20230309.7c7625d-1": "0.0^git20230309.7c7625d",
		"1.10":                      "1.10",
		"2:1.4.0-3":                 "1.4.0",
	} {
		if got := rpmVersion(deb); got != want {
			t.Errorf("rpmVersion(%q) = %q, want %q", deb, got, want)
		}
	}
}

func TestRPMLibs(t *testing.T) {
	debs := []debInfo{
		parseDebFields("Package: podman\nVersion: 4.3.1+ds1-8\nDepends: libc6 (>= 2.34), libgpgme11 (>= 1.4.1), conmon (>= 2.0.18~), golang-github-containers-common, crun | runc (>= 1.0.0~rc92~)\n"),
		parseDebFields("Package: conmon\nVersion: 2.1.6+ds1-1\nDepends: libc6 (>= 2.34), libglib2.0-0 (>= 2.35.8)\n"),
		parseDebFields("Package: crun\nVersion: 1.8.1-1\n"),
		parseDebFields("Package: golang-github-containers-common\nVersion: 0.50.1+ds1-4\nDepends: container-network-stack, tini | catatonit\n"),
		parseDebFields("Package: netavark\nVersion: 1.4.0-3\nProvides: container-network-stack\nPre-Depends: libgcc-s1:any\n"),
		parseDebFields("Package: fuse3\nVersion: 3.14.0-4\nDepends: adduser, libfuse3-3 (= 3.14.0-4), mount (>= 2.19.1), sed (>= 4)\n"),
	}
	got := rpmLibs(debs)
	// tini | catatonit: catatonit is not among these debs, so the first
	// alternative, not a library, is left out like adduser and mount.
	want := []string{"libc6", "libfuse3-3", "libgcc-s1", "libglib2.0-0", "libgpgme11"}
	if !slices.Equal(got, want) {
		t.Errorf("rpmLibs = %q, want %q", got, want)
	}
	if debs[4].name != "netavark" || debs[4].version != "1.4.0-3" || !slices.Equal(debs[4].provides, []string{"container-network-stack"}) {
		t.Errorf("parseDebFields(netavark) = %+v", debs[4])
	}
}

// TestRPMSpecsUseDebs keeps the specs and RPMDebPackages in step: every
// version macro a spec uses names a repackaged deb, and every spec that
// takes files from the debs has AutoReqProv off (rpm would otherwise
// require sonames its database never saw).
func TestRPMSpecsUseDebs(t *testing.T) {
	names, _ := fs.Glob(rpmSpecs, "rpm-specs/*.spec")
	if len(names) == 0 {
		t.Fatal("no specs")
	}
	macro := regexp.MustCompile(`%\{(v_[a-z0-9_]+)\}`)
	known := map[string]bool{}
	for _, p := range RPMDebPackages {
		known[versionMacro(p)] = true
	}
	for _, n := range names {
		b, _ := rpmSpecs.ReadFile(n)
		for _, m := range macro.FindAllStringSubmatch(string(b), -1) {
			if !known[m[1]] {
				t.Errorf("%s uses %%{%s}, which no deb in RPMDebPackages defines", n, m[1])
			}
		}
		if !regexp.MustCompile(`(?m)^AutoReqProv:\s+no$`).Match(b) {
			t.Errorf("%s: AutoReqProv is not off", n)
		}
	}
}
