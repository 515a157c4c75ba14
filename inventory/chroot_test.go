package inventory

import (
	"strings"
	"testing"
)

func TestChrootConnection(t *testing.T) {
	c, err := ConnectionFromVars("img", map[string]any{"ansible_connection": "community.general.chroot", "ansible_host": "/srv/images/web"})
	if err != nil || c.Type != ConnChroot || c.Host != "/srv/images/web" || c.String() != "chroot /srv/images/web" {
		t.Fatalf("got %+v (%s), %v", c, c.String(), err)
	}
	_, err = ConnectionFromVars("img", map[string]any{"ansible_connection": "chroot"})
	if err == nil || !strings.Contains(err.Error(), `host img: ansible_host: a chroot connection needs ansible_host set to the image tree's absolute path, found "img"`) {
		t.Fatalf("relative chroot path: %v", err)
	}
}
