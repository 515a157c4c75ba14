package main

import (
	"fmt"
	"strings"
)

// bashCompletion completes commands, then each command's flags as its
// --help lists them (so it never goes stale), then file names; help takes
// a command, completion a shell. The command list is commandNames (a test
// checks it).
const bashCompletion = `# bash completion for provision: source <(provision completion bash)
_provision() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "apply check validate doctor pull status facts doc schema version help completion" -- "$cur"))
        return
    fi
    if [[ $COMP_CWORD -eq 2 && ${COMP_WORDS[1]} == help ]]; then
        COMPREPLY=($(compgen -W "apply check validate doctor pull status facts doc schema version help completion" -- "$cur"))
        return
    fi
    if [[ $COMP_CWORD -eq 2 && ${COMP_WORDS[1]} == completion ]]; then
        COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        local flags
        flags=$("${COMP_WORDS[0]}" "${COMP_WORDS[1]}" --help 2>/dev/null | grep -oE -- '(^|[ ,])--?[A-Za-z][A-Za-z-]*' | tr -d ' ,')
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _provision provision
`

// fishCompletion completes commands with their summaries, then each
// command's flags with their help as its --help lists them, then file
// names.
func fishCompletion() string {
	var b strings.Builder
	b.WriteString(`# fish completion for provision: provision completion fish | source
# (or save it as ~/.config/fish/completions/provision.fish)
function __provision_flags
    set -l words (commandline -opc)
    test (count $words) -ge 2; or return
    set -l help ($words[1] $words[2] --help 2>/dev/null)
    string replace -rf -- '^\s+(?:-\w, )?--([\w-]+)(?: \S+)?\s{2,}(.*)$' '--$1'\t'$2' $help
    string replace -rf -- '^\s+-(\w), --[\w-]+(?: \S+)?\s{2,}(.*)$' '-$1'\t'$2' $help
end
complete -c provision -n 'not __fish_use_subcommand; and string match -q -- "-*" (commandline -ct)' -f -a '(__provision_flags)'
complete -c provision -n '__fish_seen_subcommand_from help' -f -a '` + strings.Join(commandNames, " ") + `'
complete -c provision -n '__fish_seen_subcommand_from completion' -f -a 'bash zsh fish'
`)
	for _, name := range commandNames {
		summary := summaries[name]
		if summary == "" {
			summary = "Print the command list, or a command's help."
		}
		summary, _, _ = strings.Cut(summary, ". ")
		fmt.Fprintf(&b, "complete -c provision -n __fish_use_subcommand -f -a %s -d '%s'\n", name, strings.ReplaceAll(strings.TrimSuffix(summary, "."), "'", `\'`))
	}
	return b.String()
}

// completion is `provision completion bash|zsh|fish`: a shell completion
// script on stdout. zsh uses the bash one through bashcompinit.
func (e *env) completion(args []string) int {
	fs := newFlags("completion", "bash|zsh|fish", summaries["completion"])
	pos, code, ok := fs.parse(e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageErr("completion", "want one SHELL: bash, zsh or fish")
	}
	switch pos[0] {
	case "bash":
		fmt.Fprint(e.stdout, bashCompletion)
	case "zsh":
		fmt.Fprint(e.stdout, "autoload -U +X bashcompinit && bashcompinit\n"+bashCompletion)
	case "fish":
		fmt.Fprint(e.stdout, fishCompletion())
	default:
		return e.usageErr("completion", fmt.Sprintf("%q: bash, zsh and fish are supported", pos[0]))
	}
	return exitOK
}
