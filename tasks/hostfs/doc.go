// Package hostfs is the one way modules read and write the files of a host.
//
// The host's files are seen through Root, the directory that stands for
// "/": "/" on a live host, an image tree with --root, a temp dir in tests.
// Every path is resolved inside Root and never leaves it: an absolute
// symlink or a ".." in the tree resolves against Root, as it would in a
// chroot.
//
// Reads (ReadFile, Stat, ReadDir, Resolve) use
// github.com/cyphar/filepath-securejoin, which resolves with openat2
// RESOLVE_IN_ROOT where the kernel has it. ReadFile opens only regular
// files, so a FIFO or a device in place of a file cannot block or have
// side effects.
//
// Changes walk the path one directory at a time with O_NOFOLLOW, holding
// each directory open, so that they act on the directory that was checked
// and never follow a final symlink for chmod or chown. A change refuses to
// go through a directory someone else controls: each directory on the way
// must be owned by root, by the agent's own user, or by the User the change
// is made for, and must not be writable by others (unless sticky). A link
// owned by anyone else is not followed. A link the User owns, or found in
// a directory the User owns, may only lead to directories the User owns
// (or on the way to the User's home), and with User.Home set the change
// must land inside that home.
//
// Files are replaced atomically: a temp file in the already-open directory,
// fsync, renameat, fsync of the directory. Temp names are recognisable
// (IsTemp), and a Sweeper removes those a killed run left, once per run in
// each directory a change writes in. Owner and mode changes of an existing
// file go through one fd in an order that is never wider than both the old
// and the new state. The new file keeps the mode,
// owner and SELinux label of the file it replaces, never of a link; a new
// file or directory gets the label the SELinux policy of the tree under
// Root gives its path (see Labels). A
// symlink at the path itself is followed only when it is owned by root (or
// the agent's own user) and leads to a regular file (or nothing) inside
// Root, so that distribution links such as /etc/sysctl.d/99-sysctl.conf ->
// ../sysctl.conf keep working; any other link is refused with an error
// naming it, unless the caller asks to replace the link itself
// (Attrs.ReplaceLink).
package hostfs
