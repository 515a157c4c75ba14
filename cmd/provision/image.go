package main

import (
	"fmt"
	"strconv"

	"github.com/provision-tool/provision/facts"
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
		return fmt.Errorf("want true or false, not %q", s)
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
