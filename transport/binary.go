package transport

import (
	"crypto/sha256"
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
