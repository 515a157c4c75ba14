//go:build e2e

package e2e

import (
	"os"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

func TestMain(m *testing.M) {
	os.Exit(testhost.Main(m, testhost.Debian, testhost.Fedora, testhost.Trixie, testhost.DNF5, testhost.Bullseye))
}
