package facts

import (
	"os"
	"strings"
	"testing"
)

// The container variable is evidence of an image build only while systemd
// is not running; without any evidence a host without systemd stays live.
func TestImageEvidence(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: never an image")
	}
	t.Setenv("container", "systemd-nspawn")
	if why := ImageEvidence(); !strings.Contains(why, "container=systemd-nspawn") {
		t.Errorf("with container=systemd-nspawn: %q", why)
	}
	t.Setenv("container", "")
	if _, err := os.Lstat("/run/.containerenv"); err == nil || chrooted() {
		return
	}
	if why := ImageEvidence(); why != "" {
		t.Errorf("no evidence, yet %q", why)
	}
}
