#!/usr/bin/env bash
# bench/fleet-vs-ansible.sh [FLAGS]: provision against ansible-playbook on
# real booted test hosts over SSH, as root. Prints a table of medians and
# ratios on stdout (progress on stderr):
#
#   - the first, converging run of the rootless-Podman setup on fresh hosts
#     (examples/rootless-podman.yml for provision,
#     bench/ansible/rootless-podman.yml for ansible-playbook);
#   - no-op re-runs on 1 and on 20 converged hosts: ansible-playbook with
#     forks = number of hosts, pipelining on, facts off and on; provision
#     with its default forks.
#
# Flags (all optional): -hosts N (20), -runs N (provision no-op runs, 5),
# -ansible-runs N (3), -converge-runs N (first runs per tool, each on a
# freshly booted fleet, 3), -converge-hosts N (default -hosts),
# -markdown FILE (also write the table there).
#
# It installs Debian's ansible package when ansible-playbook is missing,
# and the test-host tools of .ci/e2e-deps.txt when they are. The hosts are
# testhost's DebianPy kind: the suite's Debian 12 image plus python3 and
# python3-apt, which Ansible's modules need (provision does not). The first
# run builds that image into the harness cache (mmdebstrap, a few minutes).
# The benchmark is a Go test (build tag bench) because the harness needs a
# testing.TB; this script builds it with `go test -c` and runs the binary.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
	echo "fleet-vs-ansible.sh: run as root (the test hosts are systemd-nspawn guests)" >&2
	exit 1
fi
cd "$(dirname "$0")/.."
apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 install -y "$@" >&2
}
if ! command -v ansible-playbook >/dev/null; then
	echo "fleet-vs-ansible.sh: installing Debian's ansible package" >&2
	apt_install ansible
fi
missing=()
for p in $(grep -v '^#' .ci/e2e-deps.txt); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "fleet-vs-ansible.sh: installing test-host tools: ${missing[*]}" >&2
	apt_install --no-install-recommends "${missing[@]}"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -tags bench -o "$tmp/fleetbench.test" ./bench/fleetbench
PROVISION_E2E=required "$tmp/fleetbench.test" -test.run '^TestFleetVsAnsible$' -test.timeout 3h "$@"
