// Package input reads the files users hand to provision (playbooks,
// inventories, vars files, copy and template sources) so that no input can
// hang a run or exhaust its memory: only regular files are read, opened
// without blocking, up to a size limit; and YAML is read as one document
// with its aliases and merge keys expanded within a bound.
package input

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSize is the largest playbook, inventory or vars file read: far more
// than any hand-written file, far less than the memory of a small host.
const MaxSize = 16 << 20

// MaxFileSize is the largest copy or template source read on the
// controller.
const MaxFileSize = 1 << 30

// ReadFile reads a playbook, inventory or vars file (at most MaxSize bytes).
func ReadFile(path string) ([]byte, error) { return ReadFileLimit(path, MaxSize) }

// ReadFileLimit reads the regular file at path, refusing anything else (a
// FIFO, a device, a directory, a socket) and files larger than limit. The
// file is checked before it is opened, so that a device is never opened
// (opening one can act: a watchdog starts), and opened with O_NONBLOCK,
// so that a FIFO swapped in after the check cannot block the read; what
// is opened must be what was checked.
func ReadFileLimit(path string, limit int64) ([]byte, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := Regular(path, before); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := Regular(path, st); err != nil {
		return nil, err
	}
	if !os.SameFile(before, st) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("replaced while it was being opened")}
	}
	if st.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("file is %s, more than the limit of %s", Size(st.Size()), Size(limit))}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("file grew beyond the limit of %s while read", Size(limit))}
	}
	return data, nil
}

// ErrNotRegular is wrapped by the errors ReadFile returns for anything that
// is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Regular returns an error naming what st is, unless it is a regular file.
func Regular(path string, st fs.FileInfo) error {
	what := Kind(st.Mode())
	if what == "" {
		return nil
	}
	return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: it is %s", ErrNotRegular, what)}
}

// Kind names a file type other than a regular file ("a FIFO", "a device",
// "a directory", ...), or returns "" for a regular file.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// Size renders a byte count for messages: "16 MiB", "12 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.4g MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.4g KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
