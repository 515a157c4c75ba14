package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestAnsibleCfgFlagsWin checks that the file's settings are defaults:
// a flag given on the command line keeps its value.
func TestAnsibleCfgFlagsWin(t *testing.T) {
	cfg, err := parseAnsibleCfg("/repo/ansible.cfg", []byte("[defaults]\nforks = 7\ninventory = a.ini, /abs/b.ini\n[privilege_escalation]\nbecome = yes\nbecome_user = app\nbecome_ask_pass = false\n"), "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/repo/a.ini", "/abs/b.ini"}; !reflect.DeepEqual(cfg.inventory, want) {
		t.Errorf("inventory = %q, want %q", cfg.inventory, want)
	}
	e := &env{stderr: &bytes.Buffer{}}
	var f applyFlags
	f.root, f.forks = "/", 50
	e.applyCfg(cfg, &f, func(string) bool { return false })
	if f.forks != 7 || !f.ansible.become || f.ansible.becomeUser != "app" || len(f.inventories) != 2 {
		t.Errorf("file's settings not taken: forks %d, become %v, become_user %q, inventories %q", f.forks, f.ansible.become, f.ansible.becomeUser, f.inventories)
	}
	var g applyFlags
	g.root, g.forks, g.inventories = "/", 3, inventoryFlag{"x.ini"}
	g.ansible.becomeUser = "root"
	e.applyCfg(cfg, &g, func(name string) bool { return name == "forks" || name == "become-user" })
	if g.forks != 3 || g.ansible.becomeUser != "root" || !reflect.DeepEqual([]string(g.inventories), []string{"x.ini"}) {
		t.Errorf("flags lost to the file: forks %d, become_user %q, inventories %q", g.forks, g.ansible.becomeUser, g.inventories)
	}
}

// TestAnsibleCfgSyntax checks the INI forms configparser accepts and the
// errors, each at its line.
func TestAnsibleCfgSyntax(t *testing.T) {
	lines, err := parseIni("f", []byte("; comment\n[defaults]\nInventory: x ; note\nroles_path = a:\n  b\n# done\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cfgLine{{"defaults", "inventory", "x", 3}, {"defaults", "roles_path", "a:\nb", 4}}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %+v, want %+v", lines, want)
	}
	for src, msg := range map[string]string{
		"x = 1\n":              "f:1: \"x = 1\" comes before any [section] header",
		"[defaults\n":          "f:1: malformed section header",
		"[a]\n[a]\n":           "f:2: section [a] given twice",
		"  x = 1\n":            "f:1: indented line",
		"[defaults]\nbecome\n": "f:2: expected key = value",
		"[privilege_escalation]\nbecome = maybe\n": "f:2: become: want true or false",
	} {
		_, err := parseAnsibleCfg("f", []byte(src), "")
		if err == nil || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", src, err, msg)
		}
	}
}

// An ansible.cfg from a cloned repository cannot write escape sequences
// to the terminal (retitle it, clear it, set the clipboard) through the
// warnings and errors that quote its section and key names.
func TestAnsibleCfgEscapes(t *testing.T) {
	cfg, err := parseAnsibleCfg("/repo/ansible.cfg", []byte("[defaults]\n\x1b]0;PWNED\x07evil = 1\n"), "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	e := &env{stderr: &out}
	var f applyFlags
	f.root = "/"
	e.applyCfg(cfg, &f, func(string) bool { return false })
	_, err = parseIni("/repo/ansible.cfg", []byte("[a\x1b[2Jb]\n[a\x1b[2Jb]\n"))
	if err == nil {
		t.Fatal("no error for the section given twice")
	}
	e.printErr(err)
	if strings.ContainsAny(out.String(), "\x1b\x07") || !strings.Contains(out.String(), `\x1b]0;pwned\x07evil`) || !strings.Contains(out.String(), `[a\x1b[2Jb]`) {
		t.Errorf("raw or missing escapes in:\n%q", out.String())
	}
}
