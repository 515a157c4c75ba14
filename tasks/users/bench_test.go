package users

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// BenchmarkCheckBigFile is one subid Check against /etc/subuid and
// /etc/subgid of 100,000 other users' lines each (2.4 MB):
//
//	go test ./tasks/users -run '^$' -bench CheckBigFile -benchmem
func BenchmarkCheckBigFile(b *testing.B) {
	sys, _ := taskstest.New(b)
	var sb strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&sb, "other%d:%d:1000\n", i, 100000+i*1000)
	}
	taskstest.WriteFile(b, sys, "/etc/subuid", sb.String())
	taskstest.WriteFile(b, sys, "/etc/subgid", sb.String())
	taskstest.WriteFile(b, sys, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nu0:x:2000:2000::/home/u0:/bin/sh\n")
	taskstest.WriteFile(b, sys, "/etc/group", "root:x:0:\n")
	s := &SubID{User: "u0"}
	for b.Loop() {
		if _, err := s.Check(context.Background(), sys); err != nil {
			b.Fatal(err)
		}
	}
}
