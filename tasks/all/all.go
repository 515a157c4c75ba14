// Package all registers every module that ships with provision. Import it
// for its side effects.
package all

import (
	_ "github.com/provision-tool/provision/doctor"
	_ "github.com/provision-tool/provision/tasks/command"
	_ "github.com/provision-tool/provision/tasks/containers"
	_ "github.com/provision-tool/provision/tasks/files"
	_ "github.com/provision-tool/provision/tasks/pkg"
	_ "github.com/provision-tool/provision/tasks/sysctl"
	_ "github.com/provision-tool/provision/tasks/systemd"
	_ "github.com/provision-tool/provision/tasks/users"
)
