package main

import (
	"errors"
	"fmt"

	"github.com/provision-tool/provision/inventory"
	"github.com/provision-tool/provision/playbook"
)

// hostsToRun is selectTargets for a run: errListed once --list-hosts
// has printed them, an error saying none when no play selects a host.
func (e *env) hostsToRun(pb *playbook.Playbook, inv *inventory.Inventory, f *applyFlags, none string) ([]target, error) {
	targets, err := e.selectTargets(pb, inv, f)
	switch {
	case err != nil:
		return nil, err
	case f.listHosts:
		return nil, errListed
	case len(targets) == 0:
		return nil, errors.New(none)
	}
	return targets, nil
}

// oneHost is the targets of a run that has one host, t, alone in inv:
// this machine without -i, the tree of --chroot. how says why it is the
// only one ("without -i"); -l must select it and a play must.
func (e *env) oneHost(pb *playbook.Playbook, f *applyFlags, inv *inventory.Inventory, t target, how string) (*inventory.Inventory, []target, error) {
	if f.limit.set {
		if hosts, err := inv.SelectLimit("all", f.limit.value); err != nil || len(hosts) == 0 {
			return nil, nil, fmt.Errorf("-l %s: %s the only host is %s", f.limit.value, how, t.Name)
		}
	}
	if _, err := e.hostsToRun(pb, inv, f, fmt.Sprintf("no play selects %s, the only host %s", t.Name, how)); err != nil {
		return nil, nil, err
	}
	return inv, []target{t}, nil
}
