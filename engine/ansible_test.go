package engine

import (
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// TestAnsibleConstructs runs loop_control, set_fact, debug, assert and
// until together.
func TestAnsibleConstructs(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	taskstest.WriteFile(t, sys, "/extra.yml", "greeting: hello {{ users[0] }}\n")
	src := `
- name: p
  hosts: all
  vars:
    users: [alice, bob]
  tasks:
    - name: conf
      testfile: {path: "/etc/{{ u }}.conf", content: "{{ i }}:{{ u | upper }}"}
      loop: "{{ users }}"
      loop_control: {loop_var: u, index_var: i, label: "{{ u }}!"}
    - name: remember
      set_fact: {joined: "{{ users | join(',') }}"}
    - name: items
      debug: {msg: "{{ item }}"}
      with_items: [[a, b], c]
    - name: flat
      debug: {msg: "{{ item }}"}
      with_items: "{{ [users, ['carol']] }}"
    - include_vars: extra.yml
    - name: say
      debug: {msg: "{{ joined }} {{ greeting }}"}
    - name: check
      assert:
        that:
          - joined == 'alice,bob'
          - missing is not defined
    - name: wait
      testfile: {path: /etc/wait, content: "x"}
      register: w
      until: w is not changed
      retries: 2
      delay: 0
    - name: never
      testfile: {path: /etc/never, fail: true}
      register: n
      until: n is succeeded
      retries: 1
      delay: 0
      ignore_errors: true
    - name: false assertion
      assert: {that: "joined == 'x'", fail_msg: "joined is {{ joined }}"}
      ignore_errors: true
    - name: stop
      fail: {msg: "stop {{ joined }}"}
      when: joined is defined
`
	rec, _ := runPB(t, sys, src, Options{})
	want := "conf[alice!]=changed conf[bob!]=changed remember=ok items[a]=ok items[b]=ok items[c]=ok flat[alice]=ok flat[bob]=ok flat[carol]=ok include_vars=ok say=ok check=ok wait=ok never=failed false assertion=failed stop=failed"
	if got := rec.statuses(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := taskstest.ReadFile(t, sys, "/etc/bob.conf"); got != "1:BOB" {
		t.Errorf("bob.conf = %q", got)
	}
	if rec.events[10].Msg != "alice,bob hello alice" {
		t.Errorf("debug msg = %q", rec.events[10].Msg)
	}
	if e := rec.events[13].Error; !strings.Contains(e, "until: n is succeeded still false after 2 attempts") {
		t.Errorf("until error = %q", e)
	}
	if e := rec.events[14].Error; !strings.Contains(e, "joined is alice,bob") {
		t.Errorf("assert error = %q", e)
	}
	if e := rec.events[15].Error; e != "stop alice,bob" {
		t.Errorf("fail error = %q", e)
	}
}

// TestUntilInCheckMode: check mode checks an until task once, without
// waiting for a condition nothing could make true.
func TestUntilInCheckMode(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	src := `
- hosts: all
  tasks:
    - name: wait
      testfile: {path: /etc/wait, content: "x"}
      register: w
      until: w is not changed
      retries: 100
      delay: 60
`
	rec, _ := runPB(t, sys, src, Options{Check: true})
	if got := rec.statuses(); got != "wait=changed" {
		t.Errorf("got %s", got)
	}
}

// TestBlockRescueAlways: a failure in a block's body skips the rest of
// the body, runs rescue and always, and counts as rescued; without rescue,
// always runs and the host stops after it; nested blocks pass failures
// outwards.
func TestBlockRescueAlways(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	src := `
- hosts: all
  tasks:
    - block:
        - name: b1
          testfile: {path: /etc/b1, fail: true}
        - name: b2
          testfile: {path: /etc/b2}
      rescue:
        - name: r1
          testfile: {path: /etc/r1}
      always:
        - name: a1
          testfile: {path: /etc/a1}
    - block:
        - block:
            - name: inner
              testfile: {path: /etc/i, fail: true}
          always:
            - name: inner always
              testfile: {path: /etc/ia}
        - name: not reached
          testfile: {path: /etc/nr}
      rescue:
        - name: outer rescue
          testfile: {path: /etc/or}
    - block:
        - name: ok body
          testfile: {path: /etc/ok}
      rescue:
        - name: no rescue needed
          testfile: {path: /etc/nn}
    - block:
        - name: fatal
          testfile: {path: /etc/f, fail: true}
      always:
        - name: cleanup
          testfile: {path: /etc/c}
    - name: after
      testfile: {path: /etc/after}
`
	rec, c := runPB(t, sys, src, Options{})
	want := "b1=failed r1=ok a1=ok inner=failed inner always=ok outer rescue=ok ok body=ok fatal=failed cleanup=ok"
	if got := rec.statuses(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if c.Rescued != 2 || c.Failed != 1 {
		t.Errorf("counts %+v", c)
	}
}
