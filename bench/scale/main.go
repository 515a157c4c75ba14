// Command scale measures how provision's cost grows with its inputs (issue
// 12): a loop with notify over N files, and a subid loop over a huge
// /etc/subuid. For each case it builds a fresh --root tree, runs
// `provision apply --root` once and prints wall time, CPU (user+system)
// and peak RSS of the provision process, from its rusage.
//
//	go run ./bench/scale                       # builds ./cmd/provision
//	go run ./bench/scale -binary /tmp/provision-main
//	go run ./bench/scale -cases notify:1250,notify:10000,subid:20
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	binary := flag.String("binary", "", "provision binary to measure (default: build ./cmd/provision)")
	cases := flag.String("cases", "notify:1250,notify:10000,subid:10,subid:40", "comma-separated CASE:N; notify:N loops over N files with notify, subid:N gives N users ranges in a 100,000-line /etc/subuid")
	dir := flag.String("dir", os.TempDir(), "where the trees go (a disk, since fsync is part of the cost)")
	subidLines := flag.Int("subid-lines", 100000, "other users' lines in /etc/subuid and /etc/subgid")
	flag.Parse()
	if *binary == "" {
		*binary = build()
		defer os.RemoveAll(filepath.Dir(*binary))
	}
	fmt.Printf("| case | wall | CPU (user+sys) | peak RSS |\n|---|---:|---:|---:|\n")
	for _, c := range strings.Split(*cases, ",") {
		name, nstr, _ := strings.Cut(c, ":")
		n, err := strconv.Atoi(nstr)
		check(err)
		base, err := os.MkdirTemp(*dir, "scale")
		check(err)
		pb := setup(base, name, n, *subidLines)
		wall, cpu, rss := measure(*binary, filepath.Join(base, "root"), pb)
		fmt.Printf("| %s, %d items | %.2f s | %.2f s | %.1f MB |\n", name, n, wall.Seconds(), cpu.Seconds(), float64(rss)/1024)
		os.RemoveAll(base)
	}
}

func build() string {
	dir, err := os.MkdirTemp("", "scale-bin")
	check(err)
	bin := filepath.Join(dir, "provision")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/provision")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Run())
	return bin
}

// setup writes the tree and the playbook of one case and returns the
// playbook's path.
func setup(base, name string, n, subidLines int) string {
	root := filepath.Join(base, "root")
	write(root, "/etc/passwd", passwd(n))
	write(root, "/etc/group", "root:x:0:\n")
	write(root, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
	check(os.MkdirAll(filepath.Join(root, "/etc/app"), 0o755))
	var pb string
	switch name {
	case "notify":
		pb = `- hosts: all
  tasks:
    - name: files
      copy: {dest: "/etc/app/f{{ item }}", content: "x\n"}
      loop: ` + items(n) + `
      notify: h
  handlers:
    - name: h
      copy: {dest: /etc/app/handled, content: "done\n"}
`
	case "subid":
		var b strings.Builder
		for i := range subidLines {
			fmt.Fprintf(&b, "other%d:%d:1000\n", i, 100000+i*1000)
		}
		write(root, "/etc/subuid", b.String())
		write(root, "/etc/subgid", b.String())
		pb = `- hosts: all
  tasks:
    - name: ranges
      subid: {user: "{{ item }}"}
      loop: ` + users(n) + `
      notify: migrate
  handlers:
    - name: migrate
      copy: {dest: /etc/app/migrated, content: "done\n"}
`
	default:
		check(fmt.Errorf("unknown case %q", name))
	}
	p := filepath.Join(base, "playbook.yml")
	check(os.WriteFile(p, []byte(pb), 0o644))
	return p
}

func items(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func users(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "u" + strconv.Itoa(i)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func passwd(n int) string {
	var b strings.Builder
	b.WriteString("root:x:0:0:root:/root:/bin/bash\n")
	for i := range n {
		fmt.Fprintf(&b, "u%d:x:%d:%d::/home/u%d:/bin/sh\n", i, 2000+i, 2000+i, i)
	}
	return b.String()
}

func write(root, p, content string) {
	full := filepath.Join(root, p)
	check(os.MkdirAll(filepath.Dir(full), 0o755))
	check(os.WriteFile(full, []byte(content), 0o644))
}

// measure runs one apply and returns its wall time, CPU and peak RSS (kB).
func measure(bin, root, pb string) (time.Duration, time.Duration, int64) {
	cmd := exec.Command(bin, "apply", "--root", root, pb)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		check(fmt.Errorf("%v:\n%s", err, tail))
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return wall, cpu, ru.Maxrss
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}
