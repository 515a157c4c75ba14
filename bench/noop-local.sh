#!/usr/bin/env bash
# bench/noop-local.sh [PLAYBOOK] [RUNS]: wall time of a no-op re-run of a
# playbook on this host (run it once to converge first; as root). Prints
# min, median and max over RUNS runs, in milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."
pb=${1:-examples/rootless-podman.yml}
runs=${2:-20}
bin=$(mktemp -d)/provision
go build -o "$bin" ./cmd/provision
"$bin" apply "$pb" >/dev/null          # converge (and warm caches)
times=()
for _ in $(seq "$runs"); do
	s=$(date +%s%N)
	"$bin" apply "$pb" --output json | grep -q '"changed":0,"failed":0' || { echo "not a no-op run" >&2; exit 1; }
	times+=($(( ($(date +%s%N) - s) / 1000 )))
done
printf '%s\n' "${times[@]}" | sort -n | awk -v pb="$pb" '{ a[NR] = $1 } END {
	printf "no-op apply of %s, %d runs: min %.1f ms, median %.1f ms, max %.1f ms\n", pb, NR, a[1]/1000, a[int((NR+1)/2)]/1000, a[NR]/1000 }'
