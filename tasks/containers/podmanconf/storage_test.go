package podmanconf_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks/containers/podmanconf"
	"github.com/provision-tool/provision/tasks/containers/podmanconf/conftest"
	"github.com/provision-tool/provision/tasks/taskstest"
)

func TestStorageAgreesWithLibrary(t *testing.T) {
	for _, tc := range conftest.StorageCases {
		t.Run(tc.Name, func(t *testing.T) {
			want, wantErr := conftest.StorageOracle(t, tc.Conf)
			sys, _ := taskstest.New(t)
			taskstest.WriteFile(t, sys, podmanconf.StorageConf, tc.Conf)
			got, err := podmanconf.EffectiveStorage(sys, nil)
			if tc.Reject != "" {
				if wantErr == nil || !strings.Contains(wantErr.Error(), tc.Reject) {
					t.Fatalf("library: got %v, want an error with %q", wantErr, tc.Reject)
				}
				var le *podmanconf.LoadError
				if !errors.As(err, &le) || le.Msg != wantErr.Error() || le.Path != podmanconf.StorageConf {
					t.Fatalf("got %v, want a podmanconf.LoadError with %q", err, wantErr)
				}
				if strings.Contains(le.Msg, "toml: line") && le.Line == 0 {
					t.Errorf("no line in %v", le)
				}
				return
			}
			if wantErr != nil {
				t.Fatalf("library refuses: %v", wantErr)
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Unknown = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestStorageRootless pins what a rootless user gets, following
// getRootlessStorageOpts and loadStoreOptionsFromConfFile of
// go.podman.io/storage v1.62 (the library computes it only for the user
// running it, so it cannot be the oracle here).
func TestStorageRootless(t *testing.T) {
	alice := &podmanconf.User{Name: "alice", UID: 1000, Home: "/home/alice"}
	userConf := "/home/alice/.config/containers/storage.conf"
	for _, tc := range []struct {
		name        string
		files       map[string]string
		want        podmanconf.Storage
		wantUnknown int
	}{
		{name: "no files", want: podmanconf.Storage{RunRoot: "/run/user/1000/containers", GraphRoot: "/home/alice/.local/share/containers/storage"}},
		{name: "system graphroot, runroot and overlay options do not apply", files: map[string]string{
			podmanconf.StorageConfDefault: "[storage]\ndriver = \"zfs\"\n",
			podmanconf.StorageConf:        "[storage]\ndriver = \"overlay\"\ngraphroot = \"/srv/root\"\nrunroot = \"/run/x\"\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n"},
			want: podmanconf.Storage{Files: []string{podmanconf.StorageConf}, Driver: "overlay", RunRoot: "/run/user/1000/containers", GraphRoot: "/home/alice/.local/share/containers/storage"}},
		{name: "a driver rootless cannot use is left to podman", files: map[string]string{
			podmanconf.StorageConfDefault: "[storage]\ndriver = \"zfs\"\n"},
			want: podmanconf.Storage{Files: []string{podmanconf.StorageConfDefault}, RunRoot: "/run/user/1000/containers", GraphRoot: "/home/alice/.local/share/containers/storage"}},
		{name: "rootless_storage_path", files: map[string]string{
			podmanconf.StorageConf: "[storage]\ndriver = \"overlay2\"\nrootless_storage_path = \"/srv/$USER/${UID}/s/\"\n"},
			want: podmanconf.Storage{Files: []string{podmanconf.StorageConf}, Driver: "overlay", RunRoot: "/run/user/1000/containers", GraphRoot: "/srv/alice/1000/s"}},
		{name: "the user's file replaces the system one", wantUnknown: 1, files: map[string]string{
			podmanconf.StorageConf: "[storage]\ndriver = \"overlay\"\nrootless_storage_path = \"/srv/$USER\"\n",
			userConf:               "[storage]\ndriver = \"vfs\"\nfoo = 1\n[storage.options.overlay]\nmountopt = \"nodev\"\n"},
			want: podmanconf.Storage{Files: []string{podmanconf.StorageConf, userConf}, Driver: "vfs", RunRoot: "/run/user/1000/containers", GraphRoot: "/srv/alice"}},
		{name: "the user's graphroot and rootless_storage_path", files: map[string]string{
			userConf: "[storage]\ndriver = \"overlay\"\nrootless_storage_path = \"$HOME/rsp\"\nrunroot = \"/run/user/$UID/c\"\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n"},
			want: podmanconf.Storage{Files: []string{userConf}, Driver: "overlay", RunRoot: "/run/user/1000/c", GraphRoot: "/home/alice/rsp", RootlessStoragePath: "/home/alice/rsp", MountProgram: "/usr/bin/fuse-overlayfs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			for p, c := range tc.files {
				taskstest.WriteFile(t, sys, p, c)
			}
			got, err := podmanconf.EffectiveStorage(sys, alice)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Unknown) != tc.wantUnknown {
				t.Errorf("unknown keys %v", got.Unknown)
			}
			got.Unknown = nil
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}
