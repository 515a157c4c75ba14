package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/provision-tool/provision/report"
)

// A vaulted value holding a quote, a backslash, a control or a non-ASCII
// character is not literally in an error that quotes it (`no such user
// "pa\"ss"`); it must be cut out all the same.
func TestVaultSecretQuotedInErrors(t *testing.T) {
	for _, secret := range []string{`pa"ss-1`, `pa\ss-2`, "pa\nss-3", "pa\tss-4", "päss-5", "pa\x01ss-6"} {
		s := newSecrets(map[string]string{"db": secret})
		msgs := []string{
			fmt.Sprintf("no such user %q", secret),
			fmt.Sprintf("name: %+q is not valid", secret),
			fmt.Sprintf("%q", fmt.Sprintf("user %q", secret)),
			fmt.Sprintf("%+q", fmt.Sprintf("user %+q", secret)),
		}
		ev := &report.Event{Error: msgs[0], Msg: msgs[1], Warnings: msgs[2:]}
		s.mask(ev)
		for _, out := range append([]string{ev.Error, ev.Msg}, ev.Warnings...) {
			if strings.Contains(out, "ss-") {
				t.Errorf("secret %q shows in %s", secret, out)
			}
		}
	}
}
