package main

import (
	"reflect"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	got, err := splitArgs(`-o ProxyJump=bastion -o "UserKnownHostsFile /tmp/k h" -o 'A=b c' x\ y`)
	want := []string{"-o", "ProxyJump=bastion", "-o", "UserKnownHostsFile /tmp/k h", "-o", "A=b c", "x y"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q %v", got, err)
	}
	if _, err := splitArgs(`-o "open`); err == nil {
		t.Fatal("unterminated quote accepted")
	}
}
