// Package systemd provides the service, systemd_unit and linger modules.
// They talk to systemd over D-Bus with go-systemd (never by parsing
// systemctl output): the system manager through the system bus, a user's
// manager through its private socket /run/user/UID/systemd/private (which
// root may use directly), and logind for lingering.
//
// The D-Bus access sits behind two small interfaces, manager and logind,
// whose real implementations (bus.go) are proven by the end-to-end suite on
// booted test hosts; the modules' Check and Apply logic is unit-tested
// against fakes.
//
// Design decisions, also in the modules' docs:
//
//   - systemd_unit only writes files. daemon-reload is planned by the
//     service task whose unit systemd reports as stale (NeedDaemonReload, or
//     not loaded yet, as a new Quadlet file's unit is until the generator
//     runs). One reload refreshes every unit, so a run that writes its unit
//     files and then manages its services reloads exactly once, and the
//     "reload pending" flag lives in systemd itself, surviving a failed run.
//   - restarted and reloaded are actions for handlers: they are never
//     derived from state, so a converged host is never restarted. The
//     service task is then tasks.Imperative and verifies itself (job result
//     done, unit active) instead of the engine's second Check.
//   - Enabling is `systemctl --no-reload enable`: no second reload. Starting
//     is explicit (state: started), and the links count at the next boot or
//     reload.
//   - Offline (an image root, or PID 1 not systemd) enable, disable and mask
//     are done on the files as `systemctl --root` does, from the unit's
//     [Install] section read with go-systemd's unit parser; starting is
//     skipped with a warning; lingering is /var/lib/systemd/linger/USER.
//   - A failed job is reported with the unit's journal lines since the job
//     was queued, read by running journalctl (go-systemd's sdjournal needs
//     cgo and libsystemd; provision is built with CGO_ENABLED=0).
package systemd
