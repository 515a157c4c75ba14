package main

import (
	"fmt"
)

// bashCompletion completes commands, then each command's flags as its
// --help lists them (so it never goes stale), then file names.
const bashCompletion = `# bash completion for provision: source <(provision completion bash)
_provision() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "apply check validate doctor pull status facts doc schema version help completion" -- "$cur"))
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

// completion is `provision completion bash|zsh`: a shell completion
// script on stdout. zsh uses the bash one through bashcompinit; fish is
// not supported.
func (e *env) completion(args []string) int {
	fs := newFlags("completion", "bash|zsh", summaries["completion"])
	pos, code, ok := fs.parse(e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageErr("completion", "want one SHELL: bash or zsh")
	}
	switch pos[0] {
	case "bash":
		fmt.Fprint(e.stdout, bashCompletion)
	case "zsh":
		fmt.Fprint(e.stdout, "autoload -U +X bashcompinit && bashcompinit\n"+bashCompletion)
	default:
		return e.usageErr("completion", fmt.Sprintf("%q: bash and zsh are supported (fish is not)", pos[0]))
	}
	return exitOK
}
