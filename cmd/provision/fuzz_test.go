package main

import (
	"strings"
	"testing"
)

// FuzzExtraVars: no -e value crashes its parser, and every name it
// accepts is a variable name.
func FuzzExtraVars(f *testing.F) {
	for _, s := range []string{`a=1`, `msg="hello world" n=1`, `a='x y' b="it's"`, `g={{ x | upper() }} h=1`, `{"a": [1, 2]}`, `a=\"b`, `=x`, `a="unterminated`, `x={% if %}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var x extraVars
		if strings.HasPrefix(s, "@") {
			return // a file name
		}
		if err := x.Set(s); err != nil {
			return
		}
		for k := range x.vars {
			if !strings.HasPrefix(strings.TrimSpace(s), "{") && !identRE.MatchString(k) {
				t.Fatalf("-e %q gave the variable %q", s, k)
			}
		}
	})
}
