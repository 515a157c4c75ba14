package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/inventory"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/transport"
)

// imageFlag is --image: unset (detect), --image / --image=true (an image
// being built) or --image=false (a live host, whatever the evidence).
type imageFlag struct {
	set, on bool
}

func (f *imageFlag) String() string {
	if !f.set {
		return "auto"
	}
	return strconv.FormatBool(f.on)
}

func (f *imageFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	f.set, f.on = true, v
	return nil
}

// IsBoolFlag lets --image stand alone.
func (f *imageFlag) IsBoolFlag() bool { return true }

// decide says whether this run builds an image, and why.
func (f *imageFlag) decide() (bool, string) {
	if f.set {
		return f.on, "--image given"
	}
	if why := facts.ImageEvidence(); why != "" {
		return true, why + " (--image=false for a live host)"
	}
	return false, ""
}

// chrootTargets is targets with --chroot DIR: the plays select among one
// host, the tree, named by its absolute path.
func (e *env) chrootTargets(pb *playbook.Playbook, f *applyFlags, root string) (*inventory.Inventory, []target, error) {
	t, err := chrootTarget(f, root)
	if err != nil {
		return nil, nil, err
	}
	inv, err := inventory.ParseHostList(t[0].Name + ",")
	if err != nil {
		return nil, nil, fmt.Errorf("--chroot %s: %w", f.chroot, err)
	}
	return e.oneHost(pb, f, inv, t[0], "with --chroot")
}

// chrootTarget is the one host of --chroot DIR: the image tree, reached
// by the chroot transport.
func chrootTarget(f *applyFlags, root string) ([]target, error) {
	switch {
	case len(f.inventories) > 0:
		return nil, fmt.Errorf("--chroot and -i do not mix: in an inventory, set ansible_connection: chroot and ansible_host: %s", f.chroot)
	case root != "/":
		return nil, fmt.Errorf("--chroot and --root do not mix: --chroot runs the image's own tools, --root only edits its files")
	case f.image.set && !f.image.on:
		return nil, fmt.Errorf("--chroot builds an image: --image=false does not apply")
	}
	dir, err := filepath.Abs(f.chroot)
	if err != nil {
		return nil, fmt.Errorf("--chroot %s: %w", f.chroot, err)
	}
	return []target{{Target: transport.Target{Name: dir, Connection: inventory.ConnChroot, Address: dir}}}, nil
}

// Type names the value in help.
func (f *imageFlag) Type() string { return "bool" }
