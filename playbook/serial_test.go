package playbook

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestBatches checks serial batches against what Ansible's
// _get_serialized_batches makes of them.
func TestBatches(t *testing.T) {
	hosts := func(n int) []string {
		var out []string
		for i := 1; i <= n; i++ {
			out = append(out, fmt.Sprint("h", i))
		}
		return out
	}
	sizes := func(b [][]string) []int {
		var out []int
		for _, x := range b {
			out = append(out, len(x))
		}
		return out
	}
	for _, c := range []struct {
		serial string
		hosts  int
		want   []int
	}{
		{"", 5, []int{5}},
		{"2", 5, []int{2, 2, 1}},
		{"0", 5, []int{5}},
		{"'50%'", 5, []int{2, 2, 1}},
		{"'29%'", 100, []int{28, 28, 28, 16}}, // int(29 / 100.0 * 100) is 28 in floating point
		{"'1%'", 5, []int{1, 1, 1, 1, 1}},     // at least 1
		{"[1, 2, '50%']", 10, []int{1, 2, 5, 2}},
		{"[1, 0]", 4, []int{1, 3}},
		{"10", 3, []int{3}},
	} {
		src := "- hosts: all\n  tasks: []\n"
		if c.serial != "" {
			src = "- hosts: all\n  serial: " + c.serial + "\n  tasks: []\n"
		}
		pb, err := Parse("p.yml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if got := sizes(pb.Plays[0].Batches(hosts(c.hosts))); !reflect.DeepEqual(got, c.want) {
			t.Errorf("serial %s on %d hosts: batches %v, want %v", c.serial, c.hosts, got, c.want)
		}
	}
}

// TestSerialErrors checks the refusals of serial, max_fail_percentage
// and run_once, each at its position.
func TestSerialErrors(t *testing.T) {
	for src, want := range map[string]string{
		"- hosts: all\n  serial: many\n  tasks: []\n":                                          `p.yml:2:11: serial: expected a number, a percentage such as "30%" or a list of them, found "many"`,
		"- hosts: all\n  serial: '{{ n }}'\n  tasks: []\n":                                     `p.yml:2:11: serial: templates are not supported here`,
		"- hosts: all\n  serial: []\n  tasks: []\n":                                            `p.yml:2:11: serial: empty list`,
		"- hosts: all\n  serial: '120%'\n  tasks: []\n":                                        `p.yml:2:11: serial: "120%" is out of range`,
		"- hosts: all\n  max_fail_percentage: 150\n  tasks: []\n":                              `p.yml:2:24: max_fail_percentage: expected a percentage from 0 to 100, found "150"`,
		"- hosts: all\n  tasks: [{fake: {user: a}, run_once: true, register: r}]\n":            `p.yml:2:11: run_once with register is not supported`,
		"- hosts: all\n  tasks: [{block: [{fake: {user: a}, register: r}], run_once: true}]\n": `run_once with register is not supported`,
	} {
		_, err := Parse("p.yml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
	pb, err := Parse("p.yml", []byte("- hosts: all\n  max_fail_percentage: '30%'\n  tasks: [{block: [{fake: {user: a}}], run_once: true}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := pb.Plays[0]; *p.MaxFailPct != 30 || !p.Tasks[0].RunOnce {
		t.Errorf("max_fail_percentage %d, run_once %v: want 30 and inherited from the block", *p.MaxFailPct, p.Tasks[0].RunOnce)
	}
}
