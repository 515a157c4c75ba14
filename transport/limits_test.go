package transport

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadLineIsBounded(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("short\n"+strings.Repeat("x", 100)+"\nlast"), 16)
	if l, err := readLine(r, 32); string(l) != "short\n" || err != nil {
		t.Fatalf("got %q %v", l, err)
	}
	if _, err := readLine(r, 32); !errors.Is(err, errLineTooLong) {
		t.Fatalf("a 101-byte line with max 32: %v", err)
	}
	r = bufio.NewReaderSize(strings.NewReader("last"), 16)
	if l, err := readLine(r, 32); string(l) != "last" || err != io.EOF {
		t.Fatalf("got %q %v", l, err)
	}
}

func TestPromptWatcherFindsASplitMarker(t *testing.T) {
	p := &promptWatcher{marker: "[provision-sudo-abc]", prompts: make(chan struct{}, 4)}
	for _, w := range []string{"sudo: lecture\n[provision-", "sudo-a", "bc]", "[provision-sudo-abc]"} {
		p.Write([]byte(w))
	}
	if n := len(p.prompts); n != 2 {
		t.Fatalf("%d prompts, want 2", n)
	}
	if got := p.clean(p.String()); got != "sudo: lecture\n" {
		t.Fatalf("clean: %q", got)
	}
}
