package transport

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// The bootstrap runs on the host as root. It checks that the folder for
// the agent binaries, $d (set before it), and the state directory above
// it are owned by root and writable by no one else, and that no directory
// on the way is writable by anyone but root (sticky directories such as
// /tmp excepted); it refuses to go on otherwise (exit 96). It then reports
// the architecture, learns which binary the controller has for it, and
// copies that exact binary (content-addressed) into a private directory
// made with mktemp -d (mode 0700), where it checks the hash of the copy:
// the file it runs is the file it checked, and no one but root can reach
// it. When the installed binary is missing or wrong, it receives the
// binary on the same stdin into the private directory, checks it and
// installs it for next time. It runs the agent, which reads the bundle
// from the rest of stdin, and removes the private directory when the agent
// exits.
const bootstrap = `set -eu
umask 022
me=$(id -u)
refuse() { echo "provision-agent: refusing $1: $2" >&2; exit 96; }
trusted() {
	set -- "$1" "$2" $(stat -c '%u %a' -- "$1")
	m=$((0$4))
	if [ "$2" = own ]; then
		[ "$3" = "$me" ] || refuse "$1" "owned by uid $3, not by root"
		[ $((m & 022)) = 0 ] || refuse "$1" "mode $4 lets others write to it"
	else
		[ "$3" = 0 ] || [ "$3" = "$me" ] || refuse "$1" "owned by uid $3, not by root"
		[ $((m & 022)) = 0 ] || [ $((m & 01000)) != 0 ] || refuse "$1" "mode $4 lets others write to it"
	fi
}
mkdir -p -- "$d"
d=$(cd -P -- "$d" && pwd -P)
trusted "$d" own
p=${d%/*}
trusted "${p:-/}" own
while [ -n "$p" ]; do p=${p%/*}; trusted "${p:-/}" any; done
echo "provision-agent: arch $(uname -m)"
read -r sha size
[ "$sha" = none ] && exit 97
# Private copies a killed run left behind go after a day.
find "$d" -maxdepth 1 -name '.run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
r=$(mktemp -d "$d/.run.XXXXXX")
trap 'rm -rf "$r"' EXIT
trap 'exit 129' HUP
trap 'exit 143' TERM
a="$r/provision"
b="$d/provision-$sha"
if [ -f "$b" ] && cp -- "$b" "$a" && [ "$(sha256sum "$a" | cut -d' ' -f1)" = "$sha" ]; then
	echo "provision-agent: have"
else
	echo "provision-agent: need"
	head -c "$size" > "$a"
	if [ "$(sha256sum "$a" | cut -d' ' -f1)" != "$sha" ]; then
		echo "provision-agent: the uploaded binary does not have hash $sha" >&2
		exit 98
	fi
	t=$(mktemp "$d/.upload.XXXXXX")
	cp -- "$a" "$t"
	chmod 0755 "$t"
	mv -f "$t" "$b"
	# Other agent versions installed over a week ago go (uploaded again if
	# needed).
	find "$d" -maxdepth 1 -name 'provision-*' ! -name "provision-$sha" -mtime +7 -exec rm -f {} + 2>/dev/null || true
fi
chmod 0700 "$a"
"$a" "$@"
`

// exitUntrusted is the bootstrap's exit code when it refuses the state
// directory; its message starts with refusedPrefix.
const (
	exitUntrusted = 96
	refusedPrefix = "provision-agent: refusing "
)

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// newPromptMarker returns a random sudo prompt: the controller writes the
// become password only after it has read this on stderr.
func newPromptMarker() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "[provision-sudo-" + hex.EncodeToString(b) + "]"
}

// remoteCommand runs the bootstrap as root (directly when the login user
// is root, through sudo otherwise), which keeps the agent in binDir and
// then runs it with args. With a prompt marker, sudo reads the password
// from stdin after printing the marker (-S -p) on stderr; without, sudo
// must not ask (-n).
func remoteCommand(marker, binDir string, args []string) string {
	q := shellQuote("d="+shellQuote(binDir)+"\n"+bootstrap) + " provision"
	for _, a := range args {
		q += " " + shellQuote(a)
	}
	sudo := "sudo -n"
	if marker != "" {
		sudo = "sudo -S -p " + shellQuote(marker)
	}
	return `if [ "$(id -u)" = 0 ]; then exec /bin/sh -c ` + q + `; else exec ` + sudo + ` -- /bin/sh -c ` + q + `; fi`
}
