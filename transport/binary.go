package transport

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Binary is an agent binary the controller can upload.
type Binary struct {
	Path   string
	SHA256 string
	Size   int64
}

// Binaries finds the agent binary for a host's architecture: this very
// executable for the controller's own architecture, otherwise
// provision-linux-GOARCH beside it or in $PROVISION_AGENT_DIR. Hashes are
// computed once.
type Binaries struct {
	// Self replaces this executable as the binary for the controller's own
	// architecture (tests, which run as a test binary).
	Self string

	mu    sync.Mutex
	cache map[string]*Binary
}

// unameToGOARCH maps `uname -m` to Go's architecture names.
var unameToGOARCH = map[string]string{
	"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
	"armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
	"ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}

// For returns the binary for a host whose `uname -m` is machine.
func (b *Binaries) For(machine string) (*Binary, error) {
	goarch, ok := unameToGOARCH[machine]
	if !ok {
		return nil, fmt.Errorf("no provision build for architecture %q", machine)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.cache[goarch]; ok {
		return bin, nil
	}
	self := b.Self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	var candidates []string
	if goarch == runtime.GOARCH && runtime.GOOS == "linux" {
		candidates = append(candidates, self)
	}
	name := "provision-linux-" + goarch
	if dir := os.Getenv("PROVISION_AGENT_DIR"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, name))
	}
	candidates = append(candidates, filepath.Join(filepath.Dir(self), name))
	for _, p := range candidates {
		bin, err := hashFile(p)
		if err == nil {
			if err := checkUpload(p); err != nil {
				return nil, err
			}
			if b.cache == nil {
				b.cache = map[string]*Binary{}
			}
			b.cache[goarch] = bin
			return bin, nil
		}
	}
	return nil, fmt.Errorf("the host is %s (%s) but no %s is at hand: build one with GOOS=linux GOARCH=%s CGO_ENABLED=0 go build -o %s ./cmd/provision and put it beside provision or in $PROVISION_AGENT_DIR",
		machine, goarch, name, goarch, name)
}

func hashFile(p string) (*Binary, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, err
	}
	return &Binary{Path: p, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// dynamicLibs reports whether the ELF binary bin is dynamically linked
// (it has a program interpreter or needs shared libraries), and the
// libraries it needs.
func dynamicLibs(bin string) (bool, []string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return false, nil, err
	}
	defer f.Close()
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	libs, _ := f.ImportedLibraries() // DT_NEEDED; none when not dynamic
	return interp || len(libs) > 0, libs, nil
}

// checkStatic refuses a binary that is not a statically linked ELF
// executable: in a chroot it would load the image's C library instead of
// the one it was built with.
func checkStatic(bin string) error {
	dynamic, _, err := dynamicLibs(bin)
	if err != nil {
		return fmt.Errorf("agent binary %s: %w", bin, err)
	}
	if dynamic {
		return fmt.Errorf("agent binary %s is dynamically linked: it would run with the image's libraries; build provision with CGO_ENABLED=0", bin)
	}
	return nil
}

// checkUpload refuses to upload a dynamically linked agent binary, which
// would fail on hosts whose C library differs. A file that is not ELF at
// all is left to the host to run (test doubles are scripts).
func checkUpload(bin string) error {
	if !isELF(bin) {
		return nil
	}
	dynamic, libs, err := dynamicLibs(bin)
	switch {
	case err != nil:
		return fmt.Errorf("agent binary %s: %w", bin, err)
	case dynamic:
		return fmt.Errorf("agent binary %s is dynamically linked (needs %v): it would fail on hosts with other libraries; rebuild it static: CGO_ENABLED=0 go build ./cmd/provision", bin, libs)
	}
	return nil
}

// isELF reports whether the file at p starts with the ELF magic number.
func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, len(elf.ELFMAG))
	_, err = io.ReadFull(f, magic)
	return err == nil && bytes.Equal(magic, []byte(elf.ELFMAG))
}
