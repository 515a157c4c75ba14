package inventory

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// TestFleet loads testdata/fleet, a 20-host inventory with group_vars/ and
// host_vars/ beside it and group_vars/ beside a playbook, in its YAML and
// its INI form, which must resolve identically.
func TestFleet(t *testing.T) {
	yamlInv, err := Load([]string{"testdata/fleet/hosts.yml"}, "testdata/fleet/playbook")
	if err != nil {
		t.Fatal(err)
	}
	iniInv, err := Load([]string{"testdata/fleet/hosts.ini"}, "testdata/fleet/playbook")
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range []*Inventory{yamlInv, iniInv} {
		if len(inv.Warnings) > 0 {
			t.Errorf("%s: warnings: %v", inv.Sources[0], inv.Warnings)
		}
		hosts, err := inv.Select("podman:!canary")
		if err != nil {
			t.Fatal(err)
		}
		if len(hosts) != 19 || hosts[0].Name != "node02.fleet.test" || hosts[18].Name != "node20.fleet.test" {
			t.Errorf("%s: podman:!canary = %s", inv.Sources[0], names(hosts))
		}
		n1 := inv.Host("node01.fleet.test")
		wantConn := Connection{Type: "ssh", Host: "node01.fleet.test", Port: 2201, User: "provision",
			KeyFile: "/etc/provision/fleet_key", Become: true, BecomeUser: "root"}
		if n1.Conn != wantConn {
			t.Errorf("%s: node01 conn = %+v", inv.Sources[0], n1.Conn)
		}
		// The playbook's group_vars/canary beats every inventory
		// group_vars/ file.
		if n1.Vars["storage_driver"] != "btrfs" || n1.Vars["canary_release"] != "next" {
			t.Errorf("%s: node01 vars = %v", inv.Sources[0], n1.Vars)
		}
		n2 := inv.Host("node02.fleet.test")
		if n2.Vars["storage_driver"] != "overlay" || n2.Vars["subid_count"] != 100000 || n2.Vars["linger"] != true {
			t.Errorf("%s: node02 vars = %v", inv.Sources[0], n2.Vars)
		}
		if got := inv.Host("node07.fleet.test").Conn.Host; got != "192.0.2.7" {
			t.Errorf("%s: node07 address = %s", inv.Sources[0], got)
		}
		lh, _ := inv.Select("localhost")
		if len(lh) != 1 || lh[0].Implicit || lh[0].Conn.Type != ConnLocal || strings.Join(lh[0].Groups, ",") != "control" {
			t.Errorf("%s: localhost = %+v", inv.Sources[0], lh)
		}
	}
	// Without the playbook, group_vars/podman beats group_vars/canary:
	// same depth, and podman sorts after canary.
	noPlay, err := Load([]string{"testdata/fleet/hosts.yml"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := noPlay.Host("node01.fleet.test").Vars["storage_driver"]; got != "overlay" {
		t.Errorf("without the playbook: node01 storage_driver = %v, want overlay", got)
	}
	if len(yamlInv.Hosts()) != 21 || len(iniInv.Hosts()) != 21 {
		t.Fatalf("hosts: %d and %d, want 21", len(yamlInv.Hosts()), len(iniInv.Hosts()))
	}
	for i, yh := range yamlInv.Hosts() {
		ih := iniInv.Hosts()[i]
		if yh.Name != ih.Name || !reflect.DeepEqual(yh.Vars, ih.Vars) || yh.Conn != ih.Conn ||
			!reflect.DeepEqual(yh.Groups, ih.Groups) {
			t.Errorf("host %d differs:\nyaml %s %v %v %+v\nini  %s %v %v %+v", i,
				yh.Name, yh.Groups, yh.Vars, yh.Conn, ih.Name, ih.Groups, ih.Vars, ih.Conn)
		}
	}
}

// TestLineEndings: CRLF line ends and a UTF-8 byte order mark, as editors
// on other systems write them, change nothing.
func TestLineEndings(t *testing.T) {
	inv := mustParse(t, "hosts", "\xef\xbb\xbf[web]\r\nweb1 a=1\r\n[web:vars]\r\nb = two\r\n")
	h := inv.Host("web1")
	if h == nil || h.Vars["a"] != 1 || h.Vars["b"] != "two" {
		t.Fatalf("got %+v", h)
	}
	yinv := mustParse(t, "hosts.yml", "\xef\xbb\xbfall:\r\n  hosts:\r\n    web1:\r\n      a: 1\r\n")
	if h := yinv.Host("web1"); h == nil || h.Vars["a"] != 1 {
		t.Fatalf("yaml: got %+v", h)
	}
}

// TestDocExamples parses the INI and YAML examples of docs/inventory.md, so
// that the page stays true.
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/inventory.md")
	if err != nil {
		testhost.Skipf(t, "docs/inventory.md not found: %v", err)
	}
	blocks := regexp.MustCompile("(?s)```(ini|yaml)\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) != 2 {
		t.Fatalf("found %d examples, want 2", len(blocks))
	}
	for _, b := range blocks {
		name := map[string]string{"ini": "hosts.ini", "yaml": "hosts.yml"}[b[1]]
		inv := mustParse(t, name, b[2])
		prod, err := inv.Select("prod")
		if err != nil || len(prod) == 0 {
			t.Errorf("%s: prod = %v, %v", name, prod, err)
		}
		for _, h := range prod {
			if h.Vars["env"] != "production" {
				t.Errorf("%s: %s env = %v", name, h.Name, h.Vars["env"])
			}
		}
		if h := inv.Host("bastion"); h == nil || h.Conn.Host != "203.0.113.5" {
			t.Errorf("%s: bastion = %+v", name, h)
		}
	}
	inv := mustParse(t, "hosts.ini", blocks[0][2])
	h := inv.Host("web-extra")
	if h.Vars["motd"] != "hello world" || h.Vars["retries"] != 3 || h.Conn.Port != 2222 || len(inv.Hosts()) != 28 {
		t.Errorf("web-extra = %v %+v, %d hosts", h.Vars, h.Conn, len(inv.Hosts()))
	}
}
