package doctor

import (
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks/containers/podmanconf/conftest"
)

func TestMain(m *testing.M) { conftest.Main(m) }

// TestRegistriesAgreeWithPodman runs check 15 (files only, no podman) and
// check 17 on every registries layout of conftest, and compares with what
// the containers library makes of the same files: refused with the
// library's message, or loaded with the library's search registries.
func TestRegistriesAgreeWithPodman(t *testing.T) {
	for _, tc := range conftest.RegistriesCases {
		t.Run(tc.Name, func(t *testing.T) {
			h := newHost(t)
			h.remove("/usr/bin/podman")
			for p, c := range tc.Files {
				h.write(p, c)
			}
			lib, wantErr := conftest.Oracle(t, h.sys.Root, tc.Files)
			rep := h.doctor(Options{Checks: []int{15, 17}})
			r15 := result(t, rep, 15, "alice")
			if wantErr != nil {
				want(t, r15, Fail, wantErr.Error(), "Error: getting registries: "+wantErr.Error())
				if tc.Reject == "" || !strings.Contains(wantErr.Error(), tc.Reject) {
					t.Errorf("library: %v, case says %q", wantErr, tc.Reject)
				}
				return
			}
			if tc.Reject != "" {
				t.Fatalf("library accepts what the case says it refuses (%q)", tc.Reject)
			}
			want(t, r15, Skip, "the registries and storage files load", "")
			r17 := result(t, rep, 17, "alice")
			switch {
			case len(lib.Search) == 0:
				want(t, r17, Warn, "no unqualified-search registries", "")
			case lib.ShortNameMode == "enforcing" && len(lib.Search) > 1:
				want(t, r17, Warn, "unqualified-search registries: "+strings.Join(lib.Search, ", ")+" (", "short-name resolution enforced")
			default:
				want(t, r17, Pass, "unqualified-search registries: "+strings.Join(lib.Search, ", ")+" (", "")
			}
		})
	}
}

// TestStorageAgreesWithPodman runs check 15 (files only) on every
// storage.conf of conftest: the doctor refuses exactly what
// containers/storage refuses, with its message.
func TestStorageAgreesWithPodman(t *testing.T) {
	for _, tc := range conftest.StorageCases {
		t.Run(tc.Name, func(t *testing.T) {
			h := newHost(t)
			h.remove("/usr/bin/podman")
			h.write(conftest.StorageConf, tc.Conf)
			_, wantErr := conftest.StorageOracle(t, tc.Conf)
			rep := h.doctor(Options{Checks: []int{15}})
			for _, u := range []string{"", "alice"} {
				r := result(t, rep, 15, u)
				if wantErr != nil {
					want(t, r, Fail, wantErr.Error(), "Failed to read /etc/containers/storage.conf "+wantErr.Error(), "correct /etc/containers/storage.conf")
					continue
				}
				want(t, r, Skip, "the registries and storage files load", "")
			}
		})
	}
}
