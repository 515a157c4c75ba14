package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badInput is one input provision must refuse (or, for aliases, read
// right): the files of a temp directory, the command line ($D is that
// directory, $R a temp --root tree), and what must come out.
type badInput struct {
	name  string
	files map[string]string // "fifo:" makes a FIFO, "size:N" a sparse file of N bytes
	args  []string
	code  int
	out   string // regexp stderr (or stdout for exit 0) must match
	// ran: the run legitimately took the lock under $R/run (check mode).
	ran bool
	// not is a regexp the output must not match; root adds files to $R.
	not  string
	root map[string]string
}

const secretPlay = `- hosts: all
  vars:
    secret_token: hunter2
  tasks:
    - copy:
        dest: /etc/motd
        content: "Welcome to {{ facts.os.pretty_name }}"
`

const okPlay = "- hosts: all\n  tasks:\n    - file: {path: /srv/x, state: directory}\n"

// aliasPlay uses anchors, aliases and merge keys in every structural place.
const aliasPlay = `- &p
  name: &n one
  hosts: &h all
  vars: &v {greeting: hi}
  tags: &tags [a]
  tasks:
    - &t
      name: make /srv/a
      when: &c greeting == "hi"
      file: &args {path: /srv/a, state: directory}
  handlers: &hs
    - name: h
      file: {path: /srv/h, state: directory}
- <<: *p
  name: two
- name: *n
  hosts: *h
  vars: *v
  tags: *tags
  tasks:
    - *t
    - name: merged
      when: *c
      file:
        <<: *args
        path: /srv/b
      notify: h
  handlers: *hs
`

func laughs(list string) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	if list != "" {
		return list + strings.ReplaceAll("\n"+b.String(), "\n", "\n    ")
	}
	return b.String()
}

// childLaughs is a YAML inventory whose groups alias each other as
// children, doubling at each level.
func childLaughs() string {
	var b strings.Builder
	b.WriteString("all:\n  children:\n    g0: &g0 {hosts: {h1: }}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "    g%d: &g%d {children: {x%d: *g%d, y%d: *g%d}}\n", i, i, i, i-1, i, i-1)
	}
	return b.String()
}

func play(tasks string) string { return "- hosts: all\n  tasks:\n" + tasks }

var badInputs = map[string][]badInput{
	"1 aliases": {
		{name: "aliases everywhere validate", files: map[string]string{"p.yml": aliasPlay}, args: []string{"validate", "$D/p.yml"}, out: `p.yml: ok`},
		{name: "play alias", files: map[string]string{"p.yml": "- &p {hosts: all, tasks: []}\n- *p\n"}, args: []string{"validate", "$D/p.yml"}, out: `ok`},
		{name: "task alias", files: map[string]string{"p.yml": play("    - &t {file: {path: /a, state: absent}}\n    - *t\n")}, args: []string{"validate", "$D/p.yml"}, out: `ok`},
		{name: "vars alias", files: map[string]string{"p.yml": "- hosts: all\n  vars: &v {a: 1}\n  tasks: [{vars: *v, file: {path: /a, state: absent}}]\n"}, args: []string{"validate", "$D/p.yml"}, out: `ok`},
		{name: "when alias", files: map[string]string{"p.yml": play("    - {when: &c true, file: {path: /a, state: absent}}\n    - {when: *c, file: {path: /b, state: absent}}\n")}, args: []string{"validate", "$D/p.yml"}, out: `ok`},
		{name: "hosts alias", files: map[string]string{"p.yml": "- {hosts: &h all, tasks: []}\n- {hosts: *h, tasks: []}\n"}, args: []string{"validate", "$D/p.yml"}, out: `ok`},
		{name: "alias to wrong kind", files: map[string]string{"p.yml": "- name: &n x\n  hosts: all\n  tasks: *n\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:3:10: expected a list of tasks, found the string "x"`},
		{name: "alias in a bad place keeps errors", files: map[string]string{"p.yml": "- &p {hosts: all, tasks: [], bogus: 1}\n- *p\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:1:30: unknown play key "bogus"`},
		{name: "billion laughs playbook", files: map[string]string{"p.yml": "- hosts: all\n  vars:\n" + strings.ReplaceAll("\n"+laughs(""), "\n", "\n    ") + "\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:\d+:\d+: alias \*a\d: the aliases of this file expand to more than 200000 nodes`},
		{name: "billion laughs inventory", files: map[string]string{"p.yml": okPlay, "inv.yml": "all:\n  vars:" + strings.ReplaceAll("\n"+laughs(""), "\n", "\n    ") + "\n  hosts: {h1: }\n"}, args: []string{"apply", "--list-hosts", "-i", "$D/inv.yml", "$D/p.yml"}, code: 1, out: `inv.yml:\d+:\d+: alias \*a\d: the aliases of this file expand`},
		{name: "children aliasing each other", files: map[string]string{"p.yml": okPlay, "inv.yml": childLaughs()}, args: []string{"apply", "--list-hosts", "-i", "$D/inv.yml", "$D/p.yml"}, code: 1, out: `inv.yml:\d+:\d+: alias \*g\d+: the aliases of this file expand`},
		{name: "billion laughs -e file", files: map[string]string{"p.yml": okPlay, "e.yml": laughs("")}, args: []string{"check", "--root", "$R", "-e", "@$D/e.yml", "$D/p.yml"}, code: 1, out: `e.yml:\d+:\d+: alias \*a\d: the aliases`},
		{name: "unknown alias", files: map[string]string{"p.yml": "- *nope\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:1:1: invalid YAML: unknown anchor 'nope'`},
		{name: "merge of a scalar", files: map[string]string{"p.yml": "- hosts: all\n  tasks:\n    - file: {<<: x, path: /a}\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:3:18: merge key <<: expected a mapping or a list of mappings, found "x"`},
		{name: "merge key overridden", files: map[string]string{"p.yml": "- hosts: all\n  tasks:\n    - file: {<<: {path: /a, state: nonsense}, state: absent}\n"}, args: []string{"validate", "$D/p.yml"}, out: `ok`},
		{name: "inventory aliases", files: map[string]string{"p.yml": okPlay, "inv.yml": "all:\n  children:\n    web: {hosts: &hs {w1: , w2: }}\n    db: {hosts: *hs, vars: {<<: {a: 1}}}\n"}, args: []string{"apply", "--list-hosts", "-i", "$D/inv.yml", "$D/p.yml"}, out: `hosts \(2\):\n    w1\n    w2`},
	},
	"2 unbounded reads and hangs": {
		{name: "playbook /dev/zero", args: []string{"validate", "/dev/zero"}, code: 1, out: `/dev/zero: not a regular file: it is a character device`},
		{name: "apply /dev/zero", args: []string{"apply", "--root", "$R", "/dev/zero"}, code: 1, out: `not a regular file: it is a character device`},
		{name: "-e @/dev/zero", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "-e", "@/dev/zero", "$D/p.yml"}, code: 1, out: `read /dev/zero: not a regular file: it is a character device`},
		{name: "-i /dev/zero", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "-i", "/dev/zero", "$D/p.yml"}, code: 1, out: `/dev/zero: not a regular file: it is a character device`},
		{name: "playbook FIFO", files: map[string]string{"p.yml": "fifo:"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml: not a regular file: it is a FIFO`},
		{name: "apply FIFO", files: map[string]string{"p.yml": "fifo:"}, args: []string{"apply", "--root", "$R", "$D/p.yml"}, code: 1, out: `it is a FIFO`},
		{name: "-e @FIFO", files: map[string]string{"p.yml": okPlay, "e.yml": "fifo:"}, args: []string{"check", "--root", "$R", "-e", "@$D/e.yml", "$D/p.yml"}, code: 1, out: `e.yml: not a regular file: it is a FIFO`},
		{name: "-i FIFO", files: map[string]string{"p.yml": okPlay, "inv": "fifo:"}, args: []string{"apply", "-i", "$D/inv", "$D/p.yml"}, code: 1, out: `inv: not a regular file: it is a FIFO`},
		{name: "FIFO in an inventory directory", files: map[string]string{"p.yml": okPlay, "inv/hosts": "fifo:"}, args: []string{"apply", "-i", "$D/inv", "$D/p.yml"}, code: 1, out: `inv/hosts: not a regular file: it is a FIFO`},
		{name: "FIFO as group_vars", files: map[string]string{"p.yml": okPlay, "inv/hosts": "h1\n", "inv/group_vars/all.yml": "fifo:"}, args: []string{"apply", "--list-hosts", "-i", "$D/inv", "$D/p.yml"}, code: 1, out: `all.yml: not a regular file: it is a FIFO`},
		{name: "FIFO as -l @file", files: map[string]string{"p.yml": okPlay, "inv": "h1\n", "lim": "fifo:"}, args: []string{"apply", "--list-hosts", "-i", "$D/inv", "-l", "@$D/lim", "$D/p.yml"}, code: 1, out: `lim: not a regular file: it is a FIFO`},
		{name: "copy src FIFO", files: map[string]string{"p.yml": play("    - copy: {src: motd, dest: /etc/motd}\n"), "motd": "fifo:"}, args: []string{"apply", "--root", "$R", "$D/p.yml"}, code: 1, out: `p.yml:3:19: read motd: not a regular file: it is a FIFO`},
		{name: "template src /dev/zero", files: map[string]string{"p.yml": play("    - template: {src: /dev/zero, dest: /etc/motd}\n")}, args: []string{"check", "--root", "$R", "$D/p.yml"}, code: 1, out: `p.yml:3:23: read /dev/zero: not a regular file: it is a character device`},
		{name: "copy src directory in a handler", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}, notify: h}\n  handlers:\n    - {name: h, copy: {src: d, dest: /etc/motd}}\n"), "d/x": "x"}, args: []string{"apply", "--root", "$R", "$D/p.yml"}, code: 1, out: `p.yml:5:29: read d: not a regular file: it is a directory`},
		{name: "playbook is a directory", files: map[string]string{"p.yml/x": "x"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml: not a regular file: it is a directory`},
		{name: "playbook too large", files: map[string]string{"p.yml": "size:17000000"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml: file is 16.21 MiB, more than the limit of 16 MiB`},
		{name: "inventory too large", files: map[string]string{"p.yml": okPlay, "inv": "size:17000000"}, args: []string{"apply", "-i", "$D/inv", "$D/p.yml"}, code: 1, out: `inv: file is 16.21 MiB, more than the limit`},
		{name: "-e file too large", files: map[string]string{"p.yml": okPlay, "e.yml": "size:17000000"}, args: []string{"apply", "--root", "$R", "-e", "@$D/e.yml", "$D/p.yml"}, code: 1, out: `more than the limit of 16 MiB`},
		{name: "deep nesting", files: map[string]string{"p.yml": "- hosts: all\n  vars: {a: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:\d+:\d+: invalid YAML: .*|nested more than`},
	},
	"3 widened targets": {
		{name: "-i empty", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "-i", "", "$D/p.yml"}, code: 1, out: `invalid value "" for flag -i/--inventory: "" names no inventory`},
		{name: "-i commas", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "-i", ",,,", "$D/p.yml"}, code: 1, out: `",,," names no inventory`},
		{name: "-i blank", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "-i", " , ", "$D/p.yml"}, code: 1, out: `names no inventory`},
		{name: "--inventory empty", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "--inventory=", "$D/p.yml"}, code: 1, out: `names no inventory`},
		{name: "doctor -i empty", args: []string{"doctor", "-i", ""}, code: 1, out: `names no inventory`},
		{name: "-l empty without -i", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "-l", "", "$D/p.yml"}, code: 1, out: `invalid value "" for flag -l/--limit: empty host pattern ""`},
		{name: "-l empty with -i", files: map[string]string{"p.yml": okPlay, "inv": "h1\n"}, args: []string{"apply", "-i", "$D/inv", "-l", "", "$D/p.yml"}, code: 1, out: `empty host pattern`},
		{name: "-l comma", files: map[string]string{"p.yml": okPlay, "inv": "h1\n"}, args: []string{"apply", "-i", "$D/inv", "--limit", ",", "$D/p.yml"}, code: 1, out: `empty host pattern ","`},
		{name: "-l another host without -i", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "-l", "web", "$D/p.yml"}, code: 1, out: `-l web: without -i the only host is localhost`},
		{name: "-l excluding localhost", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "-l", "all:!localhost", "$D/p.yml"}, code: 1, out: `without -i the only host is localhost`},
		{name: "-i host list with a comma", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--list-hosts", "-i", "web1,web2,", "$D/p.yml"}, out: `hosts \(2\):\n    web1\n    web2`},
	},
	"4 silent misreads": {
		{name: "second document", files: map[string]string{"p.yml": okPlay + "---\n- hosts: all\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:4:1: a second YAML document starts here`},
		{name: "second document in inventory", files: map[string]string{"p.yml": okPlay, "inv.yml": "all: {hosts: {a: }}\n---\nall: {hosts: {b: }}\n"}, args: []string{"apply", "-i", "$D/inv.yml", "$D/p.yml"}, code: 1, out: `inv.yml:2:1: a second YAML document`},
		{name: "second document in -e file", files: map[string]string{"p.yml": okPlay, "e.yml": "a: 1\n---\nb: 2\n"}, args: []string{"check", "--root", "$R", "-e", "@$D/e.yml", "$D/p.yml"}, code: 1, out: `e.yml:2:1: a second YAML document`},
		{name: "second document in group_vars", files: map[string]string{"p.yml": okPlay, "inv/hosts": "h1\n", "inv/group_vars/all.yml": "a: 1\n---\nb: 2\n"}, args: []string{"apply", "--list-hosts", "-i", "$D/inv", "$D/p.yml"}, code: 1, out: `all.yml:2:1: a second YAML document`},
		{name: "duplicate key in mapping argument", files: map[string]string{"p.yml": play("    - command: {argv: [true], env: {A: 1, A: 2}}\n")}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:3:43: command: env: key "A" given twice`},
		{name: "duplicate key in vars value", files: map[string]string{"p.yml": "- hosts: all\n  vars: {a: {x: 1, x: 2}}\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:2:20: key "x" given twice`},
		{name: "duplicate argument", files: map[string]string{"p.yml": play("    - file: {path: /a, path: /b}\n")}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:3:24: file: "path" given twice`},
		{name: "duplicate key in -e file", files: map[string]string{"p.yml": okPlay, "e.yml": "a: 1\na: 2\n"}, args: []string{"check", "--root", "$R", "-e", "@$D/e.yml", "$D/p.yml"}, code: 1, out: `e.yml:2:1: key "a" given twice`},
		{name: "-e file not a mapping", files: map[string]string{"p.yml": okPlay, "e.yml": "- a\n"}, args: []string{"check", "--root", "$R", "-e", "@$D/e.yml", "$D/p.yml"}, code: 1, out: `expected a mapping of variable names to values, found a list`},
		{name: "hosts empty string", files: map[string]string{"p.yml": "- hosts: ''\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:1:10: hosts: empty host pattern "" selects no host`},
		{name: "hosts empty list", files: map[string]string{"p.yml": "- hosts: []\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:1:10: hosts: empty host pattern`},
		{name: "hosts templated", files: map[string]string{"p.yml": "- hosts: '{{ h }}'\n  tasks: []\n"}, args: []string{"apply", "--root", "$R", "$D/p.yml"}, code: 1, out: `p.yml:1:10: hosts: "\{\{ h \}\}" cannot be rendered before the run: unknown name h`},
		{name: "hosts templated from a fact", files: map[string]string{"p.yml": "- hosts: '{{ ansible_hostname }}'\n  tasks: []\n"}, args: []string{"apply", "--root", "$R", "$D/p.yml"}, code: 1, out: `p.yml:1:10: hosts: "\{\{ ansible_hostname \}\}" cannot be rendered before the run`},
		{name: "hosts matching nothing without -i", files: map[string]string{"p.yml": "- hosts: web\n  tasks: [{file: {path: /a, state: directory}}]\n"}, args: []string{"apply", "--root", "$R", "$D/p.yml"}, code: 1, out: `warning: .*p.yml:1:3: play "": hosts "web" select no host: it runs nowhere\nprovision: no play selects localhost`},
		{name: "--list-hosts of a play matching nothing", files: map[string]string{"p.yml": "- hosts: web\n  tasks: []\n"}, args: []string{"apply", "--root", "$R", "--list-hosts", "$D/p.yml"}, out: `play "" \(web\):\n  hosts \(0\):\n$`},
		{name: "hosts matching nothing in inventory", files: map[string]string{"p.yml": "- hosts: db\n  tasks: []\n- hosts: web\n  tasks: []\n", "inv": "[web]\nw1 ansible_connection=local\n"}, args: []string{"check", "-i", "$D/inv", "$D/p.yml", "--list-hosts"}, out: `play "" \(db\):\n  hosts \(0\):`},
		{name: "subid count 0", files: map[string]string{"p.yml": play("    - subid: {user: alice, count: 0}\n")}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:3:35: subid: count: 0 is less than 1`},
		{name: "subid count 0 apply", files: map[string]string{"p.yml": play("    - subid: {user: alice, count: 0}\n")}, args: []string{"apply", "--root", "$R", "$D/p.yml"}, code: 1, out: `count: 0 is less than 1`},
		{name: "templated notify", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}, notify: '{{ h }}'}\n  handlers:\n    - {name: r, file: {path: /b, state: absent}}\n")}, args: []string{"check", "--root", "$R", "$D/p.yml"}, code: 1, out: `p.yml:3:7: notify: "\{\{ h \}\}" cannot be rendered before the run: unknown name h`},
		{name: "templated notify of a loop item", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}, loop: [r], notify: '{{ item }}'}\n  handlers:\n    - {name: r, file: {path: /b, state: absent}}\n")}, args: []string{"check", "--root", "$R", "$D/p.yml"}, code: 1, out: `notify: "\{\{ item \}\}" cannot be rendered before the run: unknown name item`},
		{name: "templated notify naming no handler", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}, notify: '{{ h }}'}\n  handlers:\n    - {name: r, file: {path: /b, state: absent}}\n")}, args: []string{"check", "--root", "$R", "-e", "h=q", "$D/p.yml"}, code: 1, out: `notifies "q", which is no handler of this play`},
		{name: "two handlers one name", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}, notify: r}\n  handlers:\n    - {name: r, file: {path: /b, state: absent}}\n    - {name: r, file: {path: /c, state: absent}}\n")}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:6:7: handler "r" is defined twice \(first at line 5\): only the first would run`},
		{name: "templated handler name", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}}\n  handlers:\n    - {name: '{{ x }}', file: {path: /b, state: absent}}\n")}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `templates are not supported in handler names`},
		{name: "templated listen", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}}\n  handlers:\n    - {name: r, listen: '{{ x }}', file: {path: /b, state: absent}}\n")}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `listen: templates are not supported here`},
		{name: "templated tags", files: map[string]string{"p.yml": play("    - {file: {path: /a, state: absent}, tags: '{{ t }}'}\n")}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `tags: templates are not supported here`},
		{name: "templated play tags", files: map[string]string{"p.yml": "- hosts: all\n  tags: ['{{ t }}']\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:2:10: tags: templates are not supported`},
		{name: "vars named vars", files: map[string]string{"p.yml": "- hosts: all\n  vars: {vars: 1}\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:2:10: variable name "vars" is reserved`},
		{name: "vars named facts", files: map[string]string{"p.yml": "- hosts: all\n  tasks: [{vars: {facts: 1}, file: {path: /a, state: absent}}]\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `variable name "facts" is reserved`},
		{name: "never tag skipped", files: map[string]string{"p.yml": play("    - {file: {path: /srv/n, state: directory}, tags: [never, debug]}\n")}, args: []string{"check", "--root", "$R", "$D/p.yml"}, ran: true, out: `ok=0 changed=0 failed=0 skipped=0 pending=0`},
		{name: "never tag asked for", files: map[string]string{"p.yml": play("    - {file: {path: /srv/n, state: directory}, tags: [never, debug]}\n")}, args: []string{"check", "--root", "$R", "-t", "debug", "$D/p.yml"}, code: 2, ran: true, out: ``},
		{name: "tags split on commas", files: map[string]string{"p.yml": play("    - {file: {path: /srv/n, state: directory}, tags: 'a, b'}\n")}, args: []string{"check", "--root", "$R", "--tags", "b", "$D/p.yml"}, code: 2, ran: true, out: ``},
		{name: "tags not matching", files: map[string]string{"p.yml": play("    - {file: {path: /srv/n, state: directory}, tags: 'a,b'}\n")}, args: []string{"check", "--root", "$R", "--tags", "a,b,c", "--skip-tags", "b", "$D/p.yml"}, ran: true, out: ``},
		{name: "duplicate play key", files: map[string]string{"p.yml": "- hosts: all\n  hosts: web\n  tasks: []\n"}, args: []string{"validate", "$D/p.yml"}, code: 1, out: `p.yml:2:3: key "hosts" given twice`},
	},
	"5 templates rendered twice": {
		{name: "os-release PRETTY_NAME", files: map[string]string{"p.yml": secretPlay}, root: map[string]string{"etc/os-release": "ID=debian\nPRETTY_NAME=\"{{ secret_token }}\"\n"}, args: []string{"check", "--diff", "--root", "$R", "$D/p.yml"}, code: 2, ran: true, out: `\+Welcome to \{\{ secret_token \}\}`, not: `hunter2`},
		{name: "-e value", files: map[string]string{"p.yml": play("    - copy: {dest: /etc/motd, content: \"{{ greeting }}!\"}\n  vars: {secret_token: hunter2}\n")}, args: []string{"check", "--diff", "--root", "$R", "-e", "greeting='{{ secret_token }}'", "$D/p.yml"}, code: 2, ran: true, out: `\+\{\{ secret_token \}\}!`, not: `hunter2`},
		{name: "-e JSON list as loop items", files: map[string]string{"p.yml": play("    - copy: {dest: /etc/motd, content: \"{{ item }}\"}\n      loop: \"{{ users }}\"\n  vars: {secret_token: hunter2}\n")}, args: []string{"check", "--diff", "--root", "$R", "-e", `{"users": ["{{ secret_token }}"]}`, "$D/p.yml"}, code: 2, ran: true, out: `\+\{\{ secret_token \}\}`, not: `hunter2`},
		{name: "-e @file value", files: map[string]string{"p.yml": play("    - copy: {dest: /etc/motd, content: \"x {{ g }}\"}\n  vars: {secret_token: hunter2}\n"), "e.yml": "g: '{{ secret_token }}'\n"}, args: []string{"check", "--diff", "--root", "$R", "-e", "@$D/e.yml", "$D/p.yml"}, code: 2, ran: true, out: `\+x \{\{ secret_token \}\}`, not: `hunter2`},
	},
	"6 smaller": {
		{name: "--root relative", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "relative/dir", "$D/p.yml"}, code: 1, out: `--root relative/dir: give an absolute path`},
		{name: "--root missing", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R/missing", "$D/p.yml"}, code: 1, out: `--root: stat .*/missing: no such file or directory`},
		{name: "--root a file", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$D/p.yml", "$D/p.yml"}, code: 1, out: `p.yml: not a directory`},
		{name: "pull --root relative", args: []string{"pull", "--root", "img", "--playbook", "/p.yml"}, code: 1, out: `--root img: give an absolute path`},
		{name: "pull --every 0", args: []string{"pull", "--root", "$R", "--every", "0s", "--playbook", "/p.yml"}, code: 1, out: `--every must be positive, not 0s`},
		{name: "facts stray argument", args: []string{"facts", "--root", "$R", "extra"}, code: 1, out: `facts: takes no arguments, found \["extra"\]`},
		{name: "facts --output yaml", args: []string{"facts", "--root", "$R", "--output", "yaml"}, code: 1, out: `--output must be human or json, not "yaml"`},
		{name: "facts --root missing", args: []string{"facts", "--root", "$R/nope"}, code: 1, out: `--root: stat`},
		{name: "doctor --output bogus", args: []string{"doctor", "--output", "bogus"}, code: 1, out: `--output must be human or json, not "bogus"`},
		{name: "doctor -f 0", args: []string{"doctor", "-f", "0"}, code: 1, out: `--forks must be at least 1, not 0`},
		{name: "doctor -l without -i", args: []string{"doctor", "-l", "web"}, code: 1, out: `-l needs -i`},
		{name: "apply --output xml", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "--output", "xml", "$D/p.yml"}, code: 1, out: `--output must be human or json, not "xml"`},
		{name: "--forks 0", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "--forks", "0", "$D/p.yml"}, code: 1, out: `--forks must be at least 1, not 0`},
		{name: "-f -5", files: map[string]string{"p.yml": okPlay}, args: []string{"apply", "--root", "$R", "-f", "-5", "$D/p.yml"}, code: 1, out: `--forks must be at least 1, not -5`},
		{name: "validate reports every file", files: map[string]string{"b.yml": "- hosts: all\n  taks: []\n"}, args: []string{"validate", "$D/a.yml", "$D/b.yml", "$D/c.yml"}, code: 1, out: `a.yml: no such file or directory\n.*b.yml:2:3: unknown play key "taks" \(did you mean "tasks"\?\)\n.*c.yml: no such file or directory\n3 problems`},
		{name: "-e quoted value", files: map[string]string{"p.yml": play("    - {when: msg != 'hello world', file: {path: /srv/q, state: directory}}\n")}, args: []string{"check", "--root", "$R", "-e", `msg="hello world" n=1`, "$D/p.yml"}, ran: true, out: ``},
		{name: "-e single quotes", files: map[string]string{"p.yml": play("    - {when: msg != 'it is', file: {path: /srv/q, state: directory}}\n")}, args: []string{"check", "--root", "$R", "-e", `msg='it is'`, "$D/p.yml"}, ran: true, out: ``},
		{name: "-e unterminated quote", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "-e", `msg="hello`, "$D/p.yml"}, code: 1, out: `unterminated quote`},
		{name: "escape sequence in a host name", files: map[string]string{"p.yml": okPlay, "inv": "web\x1bM\r\n"}, args: []string{"apply", "--list-hosts", "-i", "$D/inv", "$D/p.yml"}, code: 1, out: `inv:1:4: host name "web\\x1bM" holds the character '\\x1b'`},
		{name: "-e facts", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "-e", `facts=1`, "$D/p.yml"}, code: 1, out: `the variable name "facts" is reserved`},
		{name: "-e JSON vars", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "-e", `{"vars": {}}`, "$D/p.yml"}, code: 1, out: `the variable name "vars" is reserved`},
		{name: "-e bad name", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "-e", `1x=2`, "$D/p.yml"}, code: 1, out: `"1x" is not a variable name`},
		{name: "-e no key", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "-e", `=2`, "$D/p.yml"}, code: 1, out: `want key=value, @file or a JSON object`},
		{name: "-e empty", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "-e", ``, "$D/p.yml"}, code: 1, out: `want key=value`},
		{name: "-e bad JSON", files: map[string]string{"p.yml": okPlay}, args: []string{"check", "--root", "$R", "-e", `{"a":`, "$D/p.yml"}, code: 1, out: `unexpected end of JSON input`},
		{name: "escape sequences in a task name", files: map[string]string{"p.yml": play("    - {name: \"x\\n\\e[33mchanged  fake\", file: {path: /srv, state: absent}}\n")}, args: []string{"check", "--root", "$R", "$D/p.yml"}, ran: true, out: ``},
	},
}

// TestBadInputs runs every bad input in-process against a temp --root and
// checks the exit code, the message, and that the root is untouched.
func TestBadInputs(t *testing.T) {
	n := 0
	for kind, rows := range badInputs {
		for _, row := range rows {
			n++
			t.Run(kind+"/"+row.name, func(t *testing.T) { row.run(t) })
		}
	}
	if n < 60 {
		t.Errorf("only %d bad inputs", n)
	}
}

func (row badInput) run(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, row.files)
	writeFiles(t, root, map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", "etc/os-release": "ID=debian\n"})
	writeFiles(t, root, row.root)
	before := snapshot(t, root, false)
	args := make([]string, len(row.args))
	for i, a := range row.args {
		args[i] = strings.NewReplacer("$D", dir, "$R", root).Replace(a)
	}
	code, stdout, stderr := runWithTimeout(t, args)
	if code != row.code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, row.code, stdout, stderr)
	}
	out := stderr
	if row.code == 0 || row.ran {
		out = stdout + stderr
	}
	if !regexp.MustCompile(row.out).MatchString(out) {
		t.Errorf("output does not match %q:\n%s", row.out, out)
	}
	if row.not != "" && regexp.MustCompile(row.not).MatchString(out) {
		t.Errorf("output matches %q:\n%s", row.not, out)
	}
	if strings.ContainsAny(stdout, "\x1b\r") {
		t.Errorf("stdout has control characters: %q", stdout)
	}
	if after := snapshot(t, root, row.ran); after != before {
		t.Errorf("the root changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func runWithTimeout(t *testing.T, args []string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- run(ctx, args, strings.NewReader(""), &stdout, &stderr) }()
	select {
	case code := <-done:
		return code, stdout.String(), stderr.String()
	case <-time.After(60 * time.Second):
		t.Fatalf("provision %q hangs", args)
	}
	return 0, "", ""
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case content == "fifo:":
			err = syscall.Mkfifo(path, 0o644)
		case strings.HasPrefix(content, "size:"):
			var size int64
			fmt.Sscan(content[5:], &size)
			var f *os.File
			if f, err = os.Create(path); err == nil {
				err = f.Truncate(size)
				f.Close()
			}
		default:
			err = os.WriteFile(path, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot lists every path under root with its mode and a hash of its
// content; with ran, the lock a check run takes is left out.
func snapshot(t *testing.T, root string, ran bool) string {
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if ran && (rel == "run" || rel == "run/provision.lock") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(data))
		}
		fmt.Fprintf(&b, "%s %v %s\n", rel, info.Mode(), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
