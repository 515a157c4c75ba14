package hostfs

import (
	"bytes"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// labelXattr is the extended attribute that holds a file's SELinux label.
// It is stored by the file system whether or not the running kernel has
// SELinux, so an image tree built on a machine without it keeps labels.
const labelXattr = "security.selinux"

// maxLabel bounds a label read from a file (the kernel's own bound on an
// xattr value is 64 KiB).
const maxLabel = 4096

// fsetxattr is unix.Fsetxattr; tests make it fail.
var fsetxattr = unix.Fsetxattr

// getLabel reads the SELinux label of the open file fd: nil when it has
// none or its file system stores no such attribute.
func getLabel(fd int) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Fgetxattr(fd, labelXattr, buf)
		switch {
		case err == unix.ENODATA || err == unix.EOPNOTSUPP:
			return nil, nil
		case err == unix.ERANGE && len(buf) < maxLabel:
			buf = make([]byte, maxLabel)
			continue
		case err != nil:
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		return buf[:n], nil
	}
}

// sameLabel compares labels as the kernel does: a trailing NUL is not
// part of the label.
func sameLabel(a, b []byte) bool {
	return bytes.Equal(bytes.TrimRight(a, "\x00"), bytes.TrimRight(b, "\x00"))
}

// setLabel gives the open file fd the label, unless it has it already
// (the kernel may have given it on creation): an agent that may not
// relabel still writes a file whose label is right.
func setLabel(fd int, label []byte) error {
	cur, err := getLabel(fd)
	if err != nil {
		return fmt.Errorf("read SELinux label: %w", err)
	}
	if sameLabel(cur, label) {
		return nil
	}
	err = fsetxattr(fd, labelXattr, label, 0)
	if err == unix.EOPNOTSUPP {
		// The file system keeps no label per file: the mount gives
		// every file its label (context=, NFS, vfat).
		return nil
	}
	if err != nil {
		return fmt.Errorf("set SELinux label %s: %w", bytes.TrimRight(label, "\x00"), err)
	}
	return nil
}

// labelFor is the label a file of the given kind (unix.S_IFREG,
// unix.S_IFDIR) created at the host path p must get: nil leaves the
// label the kernel gave it (no policy in the tree, or <<none>>).
func (f FS) labelFor(p string, kind uint32) ([]byte, error) {
	pol, err := f.Labels.policy(f)
	if pol == nil || err != nil {
		return nil, err
	}
	return pol.lookup(p, kind), nil
}

// labelNew gives the new file fd, which will be the host path p, the
// label the tree's policy gives p.
func (f FS) labelNew(fd int, p string, kind uint32) error {
	label, err := f.labelFor(p, kind)
	if err == nil && label != nil {
		err = setLabel(fd, label)
	}
	if err != nil {
		return &fs.PathError{Op: "label", Path: p, Err: err}
	}
	return nil
}
