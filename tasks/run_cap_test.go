package tasks

import (
	"strings"
	"testing"
)

func TestCappedBufferTruncates(t *testing.T) {
	var c CappedBuffer
	c.Write([]byte(strings.Repeat("a", MaxOutput-1)))
	if n, err := c.Write([]byte("bcd")); n != 3 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	s := c.String()
	if !strings.HasSuffix(s, "ab\n[output truncated: 2 more bytes not kept]\n") || len(s) > MaxOutput+64 {
		t.Fatalf("got ...%q (%d bytes)", s[len(s)-60:], len(s))
	}
}
