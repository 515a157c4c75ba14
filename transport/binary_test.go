package transport

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestInstallBuildIsStatic builds provision as README's install command
// does and checks that the result is the static binary the fleet uploads.
func TestInstallBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds provision")
	}
	out := filepath.Join(t.TempDir(), "provision")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/provision")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("CGO_ENABLED=0 go build gave a binary with PT_INTERP")
		}
	}
	if err := checkUpload(out); err != nil {
		t.Fatal(err)
	}
	b := &Binaries{Self: out}
	if _, err := b.For(map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]); err != nil && runtime.GOOS == "linux" {
		t.Fatalf("static binary refused: %v", err)
	}
}

// TestDynamicBinaryNotUploaded checks that a dynamically linked binary
// is refused with the way to rebuild it.
func TestDynamicBinaryNotUploaded(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("linux/amd64 or arm64 only")
	}
	var dyn string
	for _, p := range []string{"/bin/sh", "/bin/ls", "/usr/bin/env"} {
		if d, _, err := dynamicLibs(p); err == nil && d {
			dyn = p
			break
		}
	}
	if dyn == "" {
		t.Skip("no dynamically linked binary at hand")
	}
	b := &Binaries{Self: dyn}
	_, err := b.For(map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH])
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("dynamic binary: %v", err)
	}
}

// TestScriptAgentUploaded keeps non-ELF agents (test doubles) uploadable.
func TestScriptAgentUploaded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkUpload(p); err != nil {
		t.Fatal(err)
	}
}
