package playbook

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Batch is one serial: entry: a number of hosts, or a percentage of the
// play's hosts.
type Batch struct {
	N   int
	Pct bool
}

// serial reads serial: a number, a percentage ("30%") or a list of them.
func (p *parser) serial(v *yaml.Node) []Batch {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
		if len(items) == 0 {
			p.errs.Add(p.pos(v), "serial: empty list (leave serial out to run every host in one batch)")
		}
	}
	var out []Batch
	for _, it := range items {
		b, ok := p.batch(it)
		if !ok {
			return nil
		}
		out = append(out, b)
	}
	return out
}

// batch reads one serial entry.
func (p *parser) batch(v *yaml.Node) (Batch, bool) {
	if v.Kind != yaml.ScalarNode {
		p.errs.Add(p.pos(v), "serial: expected a number, a percentage such as \"30%%\" or a list of them, found %s", kindName(v))
		return Batch{}, false
	}
	if HasTemplate(v.Value) {
		p.errs.Add(p.pos(v), "serial: templates are not supported here (the batches are made before the run): write a number, a percentage or a list of them, found %q", v.Value)
		return Batch{}, false
	}
	s, pct := strings.CutSuffix(strings.TrimSpace(v.Value), "%")
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		p.errs.Add(p.pos(v), "serial: expected a number, a percentage such as \"30%%\" or a list of them, found %q", v.Value)
		return Batch{}, false
	case n < 0 || pct && n > 100 || n > 1000000:
		p.errs.Add(p.pos(v), "serial: %q is out of range", v.Value)
		return Batch{}, false
	}
	return Batch{N: n, Pct: pct}, true
}

// percent reads a percentage: 0 to 100, with or without a % sign.
func (p *parser) percent(v *yaml.Node, what string) *int {
	if v.Kind != yaml.ScalarNode || HasTemplate(v.Value) {
		p.errs.Add(p.pos(v), "%s: expected a percentage from 0 to 100, found %s", what, describe(v))
		return nil
	}
	s, _ := strings.CutSuffix(strings.TrimSpace(v.Value), "%")
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 100 {
		p.errs.Add(p.pos(v), "%s: expected a percentage from 0 to 100, found %q", what, v.Value)
		return nil
	}
	return &n
}

// checkRunOnce refuses run_once with register: provision's hosts run
// independently, so the other hosts could not see the result as they
// do in Ansible.
func (p *parser) checkRunOnce(play *Play) {
	for _, t := range append(append([]*Task{}, play.Tasks...), play.Handlers...) {
		if t.RunOnce && t.Register != "" {
			p.errs.Add(t.Pos, "run_once with register is not supported: provision's hosts run independently, so the other hosts would not get %s (drop run_once, or register on every host)", t.Register)
		}
	}
}

// Batches splits hosts (the play's, in inventory order) into the play's
// serial batches, as Ansible does: a percentage is of all the play's
// hosts, rounded down (in floating point, as Python does) but at least 1; the last size repeats; 0 is every
// remaining host.
func (play *Play) Batches(hosts []string) [][]string {
	if len(play.Serial) == 0 {
		if len(hosts) == 0 {
			return nil
		}
		return [][]string{hosts}
	}
	total := len(hosts)
	var out [][]string
	for i := 0; len(hosts) > 0; i++ {
		b := play.Serial[min(i, len(play.Serial)-1)]
		n := b.N
		if b.Pct {
			// As Python computes it: int(pct / 100.0 * hosts).
			n = max(int(float64(b.N)/100.0*float64(total)), 1)
		}
		if n <= 0 || n > len(hosts) {
			n = len(hosts)
		}
		out = append(out, hosts[:n])
		hosts = hosts[n:]
	}
	return out
}
