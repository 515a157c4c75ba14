package main

import (
	"bytes"
	"strings"
	"testing"
)

// An image's hostname or os-release holding escape sequences must not
// reach the terminal through `provision facts`.
func TestPrintFactsEscapes(t *testing.T) {
	var b bytes.Buffer
	printFacts(&b, "", map[string]any{"hostname": "evil\x1b]0;pwned\a\x1b[2J", "os": map[string]any{"id": "deb\x1b[31mian"}})
	if strings.ContainsAny(b.String(), "\x1b\a") {
		t.Fatalf("escape sequences printed: %q", b.String())
	}
	if !strings.Contains(b.String(), `evil\x1b]0;pwned\x07`) {
		t.Fatalf("the value is not shown escaped: %q", b.String())
	}
}
