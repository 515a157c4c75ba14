package podmanconf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	storagetypes "go.podman.io/storage/types"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// storageCases are storage.conf files, with whether containers/storage
// refuses them (reject: a substring of its message). What root gets from
// each accepted file is compared with the library's own
// types.ReloadConfigurationFile.
var storageCases = []struct {
	name, conf, reject string
}{
	{name: "overlay with fuse-overlayfs", conf: "[storage]\ndriver = \"overlay\"\nrunroot = \"/run/containers/storage\"\ngraphroot = \"/var/lib/containers/storage\"\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\nmountopt = \"nodev,metacopy=on\"\n"},
	{name: "legacy mount_program", conf: "[storage]\ndriver = \"overlay\"\n[storage.options]\nmount_program = \"/usr/bin/fuse-overlayfs\"\nmountopt = \"nodev\"\n"},
	{name: "overlay table wins over legacy", conf: "[storage]\ndriver = \"overlay\"\n[storage.options]\nmount_program = \"/old\"\n[storage.options.overlay]\nmount_program = \"/new\"\n"},
	{name: "overlay2 is overlay", conf: "[storage]\ndriver = \"overlay2\"\n"},
	{name: "no driver", conf: "[storage]\ngraphroot = \"/srv/containers\"\n"},
	{name: "vfs and rootless_storage_path", conf: "[storage]\ndriver = \"vfs\"\nrootless_storage_path = \"/srv/$USER/storage\"\n"},
	{name: "unknown keys are not errors", conf: "[storage]\ndriver = \"overlay\"\ncolour = \"blue\"\n[storage.options.overlay]\nmount_programme = \"/x\"\n"},
	{name: "empty", conf: ""},
	{name: "TOML syntax error", conf: "[storage]\ndriver = \"overlay\n", reject: "toml: line 2"},
	{name: "driver as a number", conf: "[storage]\ndriver = 1\n", reject: "incompatible types"},
	{name: "graphroot as a table", conf: "[storage.graphroot]\nx = 1\n", reject: "incompatible types"},
	{name: "size as a number", conf: "[storage.options]\nsize = 10\n", reject: "incompatible types"},
	{name: "imagestore equal to graphroot", conf: "[storage]\ngraphroot = \"/srv/c\"\nimagestore = \"/srv/c\"\n", reject: "must either be not set or be a different than graphroot"},
}

// storageOracle is what the library makes of conf, with root's defaults
// filled in as types.DefaultStoreOptions fills them.
func storageOracle(t *testing.T, conf string) (*Storage, error) {
	p := filepath.Join(t.TempDir(), "storage.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var o storagetypes.StoreOptions
	if err := storagetypes.ReloadConfigurationFile(p, &o); err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), p, StorageConf))
	}
	if o.ImageStore != "" && o.ImageStore == o.GraphRoot {
		return nil, errors.New("imagestore " + o.ImageStore + " must either be not set or be a different than graphroot")
	}
	out := &Storage{Files: []string{StorageConf}, Driver: o.GraphDriverName, RunRoot: o.RunRoot, GraphRoot: o.GraphRoot,
		ImageStore: o.ImageStore, RootlessStoragePath: o.RootlessStoragePath}
	if out.RunRoot == "" {
		out.RunRoot = DefaultRunRoot
	}
	if out.GraphRoot == "" {
		out.GraphRoot = DefaultGraphRoot
	}
	// The driver parses its options in order: the last one wins.
	for _, opt := range o.GraphDriverOptions {
		_, kv, _ := strings.Cut(opt, ".")
		if v, ok := strings.CutPrefix(kv, "mount_program="); ok {
			out.MountProgram = v
		}
		if v, ok := strings.CutPrefix(kv, "mountopt="); ok {
			out.Mountopt = v
		}
	}
	return out, nil
}

func TestStorageAgreesWithLibrary(t *testing.T) {
	for _, tc := range storageCases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := storageOracle(t, tc.conf)
			sys, _ := taskstest.New(t)
			taskstest.WriteFile(t, sys, StorageConf, tc.conf)
			got, err := EffectiveStorage(sys, nil)
			if tc.reject != "" {
				if wantErr == nil || !strings.Contains(wantErr.Error(), tc.reject) {
					t.Fatalf("library: got %v, want an error with %q", wantErr, tc.reject)
				}
				var le *LoadError
				if !errors.As(err, &le) || le.Msg != wantErr.Error() || le.Path != StorageConf {
					t.Fatalf("got %v, want a LoadError with %q", err, wantErr)
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
	alice := &User{Name: "alice", UID: 1000, Home: "/home/alice"}
	userConf := "/home/alice/.config/containers/storage.conf"
	for _, tc := range []struct {
		name        string
		files       map[string]string
		want        Storage
		wantUnknown int
	}{
		{name: "no files", want: Storage{RunRoot: "/run/user/1000/containers", GraphRoot: "/home/alice/.local/share/containers/storage"}},
		{name: "system graphroot, runroot and overlay options do not apply", files: map[string]string{
			StorageConfDefault: "[storage]\ndriver = \"zfs\"\n",
			StorageConf:        "[storage]\ndriver = \"overlay\"\ngraphroot = \"/srv/root\"\nrunroot = \"/run/x\"\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n"},
			want: Storage{Files: []string{StorageConf}, Driver: "overlay", RunRoot: "/run/user/1000/containers", GraphRoot: "/home/alice/.local/share/containers/storage"}},
		{name: "a driver rootless cannot use is left to podman", files: map[string]string{
			StorageConfDefault: "[storage]\ndriver = \"zfs\"\n"},
			want: Storage{Files: []string{StorageConfDefault}, RunRoot: "/run/user/1000/containers", GraphRoot: "/home/alice/.local/share/containers/storage"}},
		{name: "rootless_storage_path", files: map[string]string{
			StorageConf: "[storage]\ndriver = \"overlay2\"\nrootless_storage_path = \"/srv/$USER/${UID}/s/\"\n"},
			want: Storage{Files: []string{StorageConf}, Driver: "overlay", RunRoot: "/run/user/1000/containers", GraphRoot: "/srv/alice/1000/s"}},
		{name: "the user's file replaces the system one", wantUnknown: 1, files: map[string]string{
			StorageConf: "[storage]\ndriver = \"overlay\"\nrootless_storage_path = \"/srv/$USER\"\n",
			userConf:    "[storage]\ndriver = \"vfs\"\nfoo = 1\n[storage.options.overlay]\nmountopt = \"nodev\"\n"},
			want: Storage{Files: []string{StorageConf, userConf}, Driver: "vfs", RunRoot: "/run/user/1000/containers", GraphRoot: "/srv/alice"}},
		{name: "the user's graphroot and rootless_storage_path", files: map[string]string{
			userConf: "[storage]\ndriver = \"overlay\"\nrootless_storage_path = \"$HOME/rsp\"\nrunroot = \"/run/user/$UID/c\"\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n"},
			want: Storage{Files: []string{userConf}, Driver: "overlay", RunRoot: "/run/user/1000/c", GraphRoot: "/home/alice/rsp", RootlessStoragePath: "/home/alice/rsp", MountProgram: "/usr/bin/fuse-overlayfs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			for p, c := range tc.files {
				taskstest.WriteFile(t, sys, p, c)
			}
			got, err := EffectiveStorage(sys, alice)
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
