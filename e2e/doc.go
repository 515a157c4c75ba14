// Package e2e is the end-to-end suite of provision: real hosts booted on
// this machine by package testhost (Debian 12 with the real podman from an
// offline apt repository, a Fedora-like host with real dnf and rpm, a
// yum-only variant, and fleets), driven over SSH.
//
// Run it as root, after installing the host tools:
//
//	apt-get install -y --no-install-recommends $(grep -v '^#' .ci/e2e-deps.txt)
//	go test -tags e2e ./e2e/ -v -count=1 -timeout 30m
//
// Without root or the tools every test skips with one line naming what is
// missing; with PROVISION_E2E=required it fails instead.
package e2e
