//go:build e2e

package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/testhost"
)

func TestZZExplore(t *testing.T) {
	testhost.Require(t)
	kinds := strings.Split(os.Getenv("ZZ_KIND"), ",")
	scripts := strings.Split(os.Getenv("ZZ_SCRIPT"), ",")
	for i, k := range kinds {
		kind, script := testhost.Kind(k), scripts[i]
		t.Run(k, func(t *testing.T) {
			t.Parallel()
			h := testhost.Boot(t, kind, testhost.Options{})
			b, _ := os.ReadFile(script)
			if err := h.WriteFile("/root/zz.sh", b, 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			out, code, err := h.Run(ctx, "bash /root/zz.sh 2>&1")
			t.Logf("exit %d err %v\n%s", code, err, out)
		})
	}
}
