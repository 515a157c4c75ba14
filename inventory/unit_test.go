package inventory

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestParseINIValue pins the typing of INI values to Python's
// ast.literal_eval, which Ansible uses, with the text kept when it fails.
func TestParseINIValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"22", 22},
		{"-5", -5},
		{"+5", 5},
		{"1_000", 1000},
		{"0x1F", 31},
		{"0o17", 15},
		{"0b101", 5},
		{"0", 0},
		{"00", 0},
		{"0644", "0644"}, // leading zeros are a syntax error in Python 3
		{"1.5", 1.5},
		{".5", 0.5},
		{"1e3", 1000.0},
		{"-2.5e-1", -0.25},
		{"1.2.3", "1.2.3"},
		{"10abc", "10abc"},
		{"1j", "1j"},
		{"99999999999999999999", "99999999999999999999"},
		{"True", true},
		{"False", false},
		{"None", nil},
		{"true", "true"}, // not Python: stays a string, as in Ansible
		{"yes", "yes"},
		{"FALSE", "FALSE"},
		{"'x y'", "x y"},
		{`"x y"`, "x y"},
		{`'it''s'`, "its"}, // adjacent literals concatenate
		{`"a" 'b'`, "ab"},
		{`'a\tb\n'`, "a\tb\n"},
		{`"\x41\u00e9\101"`, "Aé" + "A"},
		{`'\d'`, `\d`}, // unknown escapes keep the backslash
		{`r'\n'`, `\n`},
		{`b'bytes'`, "bytes"},
		{`u'text'`, "text"},
		{`f'x'`, "f'x'"}, // f-strings are not literals
		{`'a' b'b'`, `'a' b'b'`},
		{`'''tri'ple'''`, "tri'ple"},
		{`'unterminated`, `'unterminated`},
		{"[1, 'x', True]", []any{1, "x", true}},
		{"[]", []any{}},
		{"[1, [2, 3],]", []any{1, []any{2, 3}}},
		{"(1, 2)", []any{1, 2}},
		{"(1,)", []any{1}},
		{"()", []any{}},
		{"(5)", 5},
		{"1, 2", []any{1, 2}},
		{"1,", []any{1}},
		{"{'a': 1, 'b': [None]}", map[string]any{"a": 1, "b": []any{nil}}},
		{"{1: 'x', True: 'y'}", map[string]any{"1": "x", "True": "y"}},
		{"{}", map[string]any{}},
		{"{1, 2, 1}", []any{1, 2}},
		{"{[1]: 2}", "{[1]: 2}"},
		{"...", "..."},
		{"[...]", []any{"..."}},
		{"8080 # comment", 8080},
		{"True # comment", true},
		{"  7", 7},
		{"bar # comment", "bar # comment"},
		{"a b", "a b"},
		{"", ""},
		{"web", "web"},
		{"-", "-"},
		{"--1", "--1"},
		{"[1, 2", "[1, 2"},
		{"{'a' 1}", "{'a' 1}"},
		{"1 2", "1 2"},
		{"/usr/bin/python3", "/usr/bin/python3"},
		{"10.0.0.1", "10.0.0.1"},
		{"{{ x }}", "{{ x }}"},
	}
	for _, tt := range tests {
		got := parseINIValue(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseINIValue(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestShlexSplit(t *testing.T) {
	tests := []struct {
		in   string
		want string // tokens as text@offset, separated by |
		err  string
	}{
		{"web1 a=1  b=2", "web1@0|a=1@5|b=2@10", ""},
		{`  web1 foo="a b" bar='c d'`, `web1@2|foo=a b@7|bar=c d@17`, ""},
		{`web1 x="say \"hi\" \\ \n"`, `web1@0|x=say "hi" \ \n@5`, ""},
		{`web1 x='no \escape'`, `web1@0|x=no \escape@5`, ""},
		{`web1 x=a\ b`, `web1@0|x=a b@5`, ""},
		{"web1 x=a#b c=d", "web1@0|x=a@5", ""},
		{"web1 # comment x=1", "web1@0", ""},
		{`web1 x="#not a comment"`, `web1@0|x=#not a comment@5`, ""},
		{`web1 x=''`, `web1@0|x=@5`, ""},
		{`web1 ''`, `web1@0|@5`, ""},
		{"web1\tx=1\r", "web1@0|x=1@5", ""},
		{`web1 x="open`, "", `7:unterminated quoted string (no closing ")`},
		{`web1 x='open`, "", `7:unterminated quoted string (no closing ')`},
		{`web1 x=\`, "", "7:a backslash at the end of the line escapes nothing"},
	}
	for _, tt := range tests {
		toks, err := shlexSplit(tt.in)
		if tt.err != "" {
			if err == nil || fmtErr(err) != tt.err {
				t.Errorf("shlexSplit(%q) error = %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("shlexSplit(%q): %s", tt.in, err.msg)
			continue
		}
		var parts []string
		for _, tok := range toks {
			parts = append(parts, tok.text+"@"+itoa(tok.off))
		}
		if got := strings.Join(parts, "|"); got != tt.want {
			t.Errorf("shlexSplit(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func fmtErr(e *shlexError) string { return itoa(e.off) + ":" + e.msg }

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestExpandHostPattern(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web1", "web1"},
		{"web[1:3]", "web1 web2 web3"},
		{"web[01:03].example.com", "web01.example.com web02.example.com web03.example.com"},
		{"web[08:11]", "web08 web09 web10 web11"},
		{"web[:2]", "web0 web1 web2"},
		{"web[1:10:3]", "web1 web4 web7 web10"},
		{"db-[a:c]", "db-a db-b db-c"},
		{"db-[a:f:2]", "db-a db-c db-e"},
		{"x[y:B]", "xy xz xA xB"},
		{"r[1:2]c[a:b]", "r1ca r1cb r2ca r2cb"},
		{"[1:2].example.com", "1.example.com 2.example.com"},
		{"web[3:3]", "web3"},
	}
	for _, tt := range tests {
		got, err := expandHostPattern(tt.in)
		if err != nil {
			t.Errorf("expandHostPattern(%q): %v", tt.in, err)
			continue
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("expandHostPattern(%q) = %q, want %q", tt.in, strings.Join(got, " "), tt.want)
		}
	}
	errs := []struct {
		in  string
		off int
		msg string
	}{
		{"web[1:]", 3, `bad host range "[1:]": missing end value`},
		{"web[1]", 3, `bad host range "[1]": want [begin:end] or [begin:end:step]`},
		{"a[1:2]b[c:a]", 7, `bad host range "[c:a]": begin "c" comes after end "a"`},
		{"a[1:2]bb[1:x]", 8, `bad host range "[1:x]": bounds must be two numbers or two letters`},
		{"a[10:2]", 1, `bad host range "[10:2]": begin 10 is greater than end 2`},
		{"a[-1:2]", 1, `bad host range "[-1:2]": bounds must be two numbers or two letters`},
		{"a[1:2:-1]", 1, `bad host range "[1:2:-1]": the step must be a positive number`},
		{"a[1:200000]", 1, `bad host range "[1:200000]": expands to more than 100000 hosts`},
		{"a[1:1000]b[1:1000]", 0, `expands to more than 100000 hosts`},
	}
	for _, tt := range errs {
		_, err := expandHostPattern(tt.in)
		re, ok := err.(*rangeError)
		if !ok || re.msg != tt.msg || re.off != tt.off {
			t.Errorf("expandHostPattern(%q) error = %#v, want %d: %s", tt.in, err, tt.off, tt.msg)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in, name string
		port     int
	}{
		{"web1", "web1", 0},
		{"web1:2222", "web1", 2222},
		{"web[01:10]:22", "web[01:10]", 22},
		{"web[01:10]", "web[01:10]", 0},
		{"10.0.0.1:22", "10.0.0.1", 22},
		{"fe80::1", "fe80::1", 0},
		{"[fe80::1]:2222", "fe80::1", 2222},
		{"[fe80::1]", "[fe80::1]", 0},
		{"web1:", "web1:", 0},
		{"web1:ssh", "web1:ssh", 0},
	}
	for _, tt := range tests {
		name, port, _ := splitHostPort(tt.in)
		if name != tt.name || port != tt.port {
			t.Errorf("splitHostPort(%q) = %q, %d, want %q, %d", tt.in, name, port, tt.name, tt.port)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"hosts.yml", "[web]\nweb1\n", "yaml"},
		{"hosts.yaml", "", "yaml"},
		{"hosts.json", "{}", "yaml"},
		{"hosts.ini", "all:\n  hosts: {}\n", "ini"},
		{"hosts", "all:\n  hosts:\n    web1:\n", "yaml"},
		{"hosts", `{"all": {"hosts": {"web1": null}}}`, "yaml"},
		{"hosts", "[web]\nweb1\n", "ini"},
		{"hosts", "web1\nweb2 ansible_port=22\n", "ini"},
		{"hosts", "web1:2222\n", "ini"},
		{"hosts", "", "ini"},
		{"inventory.cfg", "[web]\nweb1\n", "ini"},
		{"hosts", "#!/usr/bin/env python3\nprint('{}')\n", "script"},
		{"hosts.yml", "#!/bin/sh\n", "script"},
	}
	for _, tt := range tests {
		if got := detectFormat(tt.name, []byte(tt.data)); got != tt.want {
			t.Errorf("detectFormat(%q, %q) = %s, want %s", tt.name, tt.data, got, tt.want)
		}
	}
}

func TestAnsibleBool(t *testing.T) {
	for _, v := range []any{true, 1, 1.0, "yes", "Yes", "ON", "1", "true", "True", "t", "y", " yes "} {
		if b, ok := ansibleBool(v); !ok || !b {
			t.Errorf("ansibleBool(%#v) = %v, %v, want true", v, b, ok)
		}
	}
	for _, v := range []any{false, 0, 0.0, "no", "NO", "off", "0", "false", "f", "n"} {
		if b, ok := ansibleBool(v); !ok || b {
			t.Errorf("ansibleBool(%#v) = %v, %v, want false", v, b, ok)
		}
	}
	for _, v := range []any{nil, 2, "maybe", "", []any{}, map[string]any{}} {
		if _, ok := ansibleBool(v); ok {
			t.Errorf("ansibleBool(%#v) accepted", v)
		}
	}
}

func TestConnectionFromVars(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	c, err := ConnectionFromVars("web1", map[string]any{
		"ansible_host": "10.1.1.1", "ansible_port": 2222, "ansible_user": "deploy",
		"ansible_ssh_private_key_file": "~/.ssh/id", "ansible_become": true,
	})
	want := Connection{Type: "ssh", Host: "10.1.1.1", Port: 2222, User: "deploy", KeyFile: "/home/u/.ssh/id", Become: true, BecomeUser: "root"}
	if err != nil || c != want {
		t.Errorf("got %+v, %v, want %+v", c, err, want)
	}
	c, err = ConnectionFromVars("web1", nil)
	if want := (Connection{Type: "ssh", Host: "web1", BecomeUser: "root"}); err != nil || c != want {
		t.Errorf("defaults: got %+v, %v", c, err)
	}
	_, err = ConnectionFromVars("web1", map[string]any{"ansible_port": 0, "ansible_connection": "winrm"})
	want2 := "host web1: ansible_connection: unsupported connection \"winrm\": provision connects with ssh, local or chroot\n" +
		"host web1: ansible_port: want a port number from 1 to 65535, found the number 0"
	if err == nil || err.Error() != want2 {
		t.Errorf("errors: got %v, want %s", err, want2)
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Errorf("errors are not Errors: %T", err)
	}
	if _, err := ConnectionFromVars("h", map[string]any{"ansible_connection": "loca"}); err == nil || !strings.Contains(err.Error(), `(did you mean "local"?)`) {
		t.Errorf("hint: %v", err)
	}
}

func TestConnectionString(t *testing.T) {
	tests := []struct {
		c    Connection
		want string
	}{
		{Connection{Type: "ssh", Host: "web1", BecomeUser: "root"}, "ssh web1"},
		{Connection{Type: "ssh", Host: "fe80::1", Port: 22, User: "u", KeyFile: "/k", Become: true, BecomeUser: "root"}, "ssh u@[fe80::1]:22 key=/k become=root"},
		{Connection{Type: "local", Host: "x", Become: true, BecomeUser: "admin"}, "local become=admin"},
		{Connection{Type: "local", Host: "x"}, "local"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestMagicVarsAndGroupHosts(t *testing.T) {
	inv := mustParse(t, "inv/hosts", "10.0.0.9\n[web]\nweb1.example.com\n[db]\ndb1\n[prod:children]\nweb\ndb\n")
	h := inv.Host("web1.example.com")
	got := inv.MagicVars(h)
	want := map[string]any{
		"inventory_hostname":       "web1.example.com",
		"inventory_hostname_short": "web1",
		"group_names":              []string{"prod", "web"},
		"groups": map[string][]string{
			"all":       {"10.0.0.9", "web1.example.com", "db1"},
			"ungrouped": {"10.0.0.9"},
			"web":       {"web1.example.com"},
			"db":        {"db1"},
			"prod":      {"web1.example.com", "db1"},
		},
		"inventory_file": "inv/hosts",
		"inventory_dir":  "inv",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MagicVars:\n got %#v\nwant %#v", got, want)
	}
	if short := inv.MagicVars(inv.Host("10.0.0.9"))["inventory_hostname_short"]; short != "10.0.0.9" {
		t.Errorf("short name of an IP address = %v", short)
	}
	if inv.GroupHosts("nosuch") != nil || inv.Group("nosuch") != nil || inv.Host("nosuch") != nil {
		t.Error("lookups of missing names must return nil")
	}
	if got := names(inv.GroupHosts("prod")); got != "web1.example.com db1" {
		t.Errorf("GroupHosts(prod) = %q", got)
	}
	var groups []string
	for _, g := range inv.Groups() {
		groups = append(groups, g.Name)
	}
	if strings.Join(groups, " ") != "all ungrouped web db prod" {
		t.Errorf("Groups() = %v", groups)
	}
	if g := inv.Group("prod"); strings.Join(g.Children, " ") != "web db" || g.Depth != 1 || inv.Group("web").Depth != 2 {
		t.Errorf("prod = %+v", g)
	}
}

// TestErrorsType: Load and Parse return Errors, whose positions callers can
// use, sorted by file and position.
func TestErrorsType(t *testing.T) {
	_, err := Parse("hosts", []byte("[b:vars]\nx\n[a:var]\n"))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %T, want Errors", err)
	}
	if len(errs) != 3 || errs[0].Pos != (Pos{File: "hosts", Line: 1, Col: 1}) || errs[2].Pos != (Pos{File: "hosts", Line: 3, Col: 4}) {
		t.Errorf("errors: %v", err)
	}
	for _, tt := range []struct {
		p    Pos
		want string
	}{{Pos{File: "f", Line: 2, Col: 3}, "f:2:3"}, {Pos{File: "f", Line: 2}, "f:2"}, {Pos{File: "f"}, "f"}} {
		if tt.p.String() != tt.want {
			t.Errorf("%#v.String() = %q", tt.p, tt.p.String())
		}
	}
}

func TestLoadMissingSource(t *testing.T) {
	_, err := Load([]string{"/nonexistent/hosts", "/nonexistent/other"}, "")
	want := "inventory /nonexistent/hosts: no such file or directory\ninventory /nonexistent/other: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestParseHostList(t *testing.T) {
	inv, err := ParseHostList("a, b:2200,[fe80::1]:22,c,a,")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(inv.Hosts()); got != "a b fe80::1 c" {
		t.Errorf("hosts = %q", got)
	}
	if c := inv.Host("b").Conn; c.Port != 2200 || c.Host != "b" {
		t.Errorf("b: %+v", c)
	}
	if c := inv.Host("fe80::1").Conn; c.Port != 22 || c.String() != "ssh [fe80::1]:22" {
		t.Errorf("fe80::1: %+v", c)
	}
	if _, err := ParseHostList("web[1:],"); err == nil || err.Error() != `host list "web[1:],": bad host range "[1:]": missing end value` {
		t.Errorf("bad range: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		word  string
		cands []string
		want  string
	}{
		{"webb", []string{"web", "db"}, ` (did you mean "web"?)`},
		{"web", []string{"web", "webs"}, ` (did you mean "webs"?)`},
		{"xyz", []string{"web", "db"}, ""},
		{"x", nil, ""},
		{"prod", []string{"production"}, ` (did you mean "production"?)`},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, tt.cands); got != tt.want {
			t.Errorf("suggest(%q, %v) = %q, want %q", tt.word, tt.cands, got, tt.want)
		}
	}
}
