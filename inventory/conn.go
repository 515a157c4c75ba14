package inventory

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Connection types.
const (
	ConnSSH   = "ssh"   // one OpenSSH client process per host
	ConnLocal = "local" // this machine, no SSH
	// ConnChroot is an image tree on this machine (ansible_host is its
	// path): the agent runs chrooted in it (transport.Chroot).
	ConnChroot = "chroot"
)

// Connection says how to reach a host. It is resolved from the host's
// variables, with the names Ansible users already set; when Ansible accepts
// two names for one setting, the later one in this list wins, as in
// Ansible's ssh connection plugin.
type Connection struct {
	// Type is ConnSSH or ConnLocal, from ansible_connection. ssh is the
	// default; smart, paramiko and paramiko_ssh (also as
	// ansible.builtin.*) mean ssh, since provision always runs the OpenSSH
	// client. The implicit localhost is local.
	Type string
	// Host is the address to connect to: ansible_host (or
	// ansible_ssh_host), else the inventory name.
	Host string
	// Port is ansible_port (or ansible_ssh_port); 0 leaves it to ssh and
	// ssh_config (22).
	Port int
	// User is ansible_user (or ansible_ssh_user); "" leaves it to ssh and
	// ssh_config.
	User string
	// KeyFile is ansible_private_key_file (or ansible_ssh_private_key_file)
	// with a leading ~ expanded; "" for ssh's default keys and agent.
	KeyFile string
	// Become is ansible_become, read as Ansible reads booleans (true,
	// yes, on, 1, ... in any case).
	Become bool
	// BecomeUser is ansible_become_user, root by default.
	BecomeUser string
}

// String renders the connection for messages and listings, such as
// "ssh deploy@10.0.0.1:2222 key=~/.ssh/id become=root".
func (c Connection) String() string {
	if c.Type == ConnChroot {
		return "chroot " + c.Host
	}
	if c.Type == ConnLocal {
		s := "local"
		if c.Become {
			s += " become=" + c.BecomeUser
		}
		return s
	}
	var b strings.Builder
	b.WriteString(c.Type + " ")
	if c.User != "" {
		b.WriteString(c.User + "@")
	}
	host := c.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	b.WriteString(host)
	if c.Port != 0 {
		fmt.Fprintf(&b, ":%d", c.Port)
	}
	if c.KeyFile != "" {
		b.WriteString(" key=" + c.KeyFile)
	}
	if c.Become {
		b.WriteString(" become=" + c.BecomeUser)
	}
	return b.String()
}

// ConnectionFromVars resolves a Connection from a host's variables, as Load
// does for every host. The engine may call it again after rendering
// templated values in the variables.
func ConnectionFromVars(name string, vars map[string]any) (Connection, error) {
	c, _, err := resolveConnection(name, vars, nil)
	return c, err
}

var connTypes = map[string]string{
	"ssh": ConnSSH, "smart": ConnSSH, "paramiko": ConnSSH, "paramiko_ssh": ConnSSH,
	"ansible.builtin.ssh": ConnSSH, "ansible.legacy.ssh": ConnSSH,
	"ansible.builtin.paramiko_ssh": ConnSSH, "ansible.legacy.paramiko_ssh": ConnSSH,
	"local": ConnLocal, "ansible.builtin.local": ConnLocal, "ansible.legacy.local": ConnLocal,
	"chroot": ConnChroot, "community.general.chroot": ConnChroot,
}

// resolveConnection returns the connection, notes worth a warning, and the
// problems found, at the positions of the variables when pos has them.
func resolveConnection(name string, vars map[string]any, pos map[string]Pos) (Connection, []string, error) {
	c := Connection{Type: ConnSSH, Host: name, BecomeUser: "root"}
	var errs Errors
	var notes []string
	fail := func(key, format string, args ...any) {
		errs.Add(pos[key], "host %s: %s: %s", name, key, fmt.Sprintf(format, args...))
	}
	// last returns the value of the last non-null variable among keys.
	last := func(keys ...string) (string, any, bool) {
		key, val, ok := "", any(nil), false
		for _, k := range keys {
			if v, set := vars[k]; set && v != nil {
				key, val, ok = k, v, true
			}
		}
		if s, isStr := val.(string); ok && isStr && strings.Contains(s, "{{") {
			fail(key, "templates are not supported in connection variables, found %q", s)
			return key, nil, false
		}
		return key, val, ok
	}
	str := func(key string, v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case int, int64, uint64, float64:
			return fmt.Sprint(x), true
		}
		fail(key, "want a string, found %s", describe(v))
		return "", false
	}
	if k, v, ok := last("ansible_connection"); ok {
		if s, ok := str(k, v); ok {
			t, known := connTypes[s]
			switch {
			case !known:
				names := []string{"ssh", "local", "chroot", "smart", "paramiko"}
				fail(k, "unsupported connection %q: provision connects with ssh, local or chroot%s", s, suggest(s, names))
			case strings.Contains(s, "paramiko"):
				notes = append(notes, fmt.Sprintf("ansible_connection %q is run with the OpenSSH client (ssh): provision has no paramiko", s))
				c.Type = t
			default:
				c.Type = t
			}
		}
	}
	if k, v, ok := last("ansible_host", "ansible_ssh_host"); ok {
		if s, ok := str(k, v); ok && s != "" {
			c.Host = s
		}
	}
	if k, v, ok := last("ansible_port", "ansible_ssh_port"); ok {
		n, isInt := toInt(v)
		if !isInt || n < 1 || n > 65535 {
			fail(k, "want a port number from 1 to 65535, found %s", describe(v))
		} else {
			c.Port = n
		}
	}
	if k, v, ok := last("ansible_user", "ansible_ssh_user"); ok {
		if s, ok := str(k, v); ok {
			c.User = s
		}
	}
	if k, v, ok := last("ansible_private_key_file", "ansible_ssh_private_key_file"); ok {
		if s, ok := str(k, v); ok {
			c.KeyFile = expandHome(s)
		}
	}
	if k, v, ok := last("ansible_become"); ok {
		if b, ok := ansibleBool(v); ok {
			c.Become = b
		} else {
			fail(k, "want a boolean (true or false), found %s", describe(v))
		}
	}
	if k, v, ok := last("ansible_become_user"); ok {
		if s, ok := str(k, v); ok && s != "" {
			c.BecomeUser = s
		}
	}
	if k, v, ok := last("ansible_become_method"); ok && c.Become {
		if s, ok := str(k, v); ok && s != "sudo" && s != "ansible.builtin.sudo" {
			fail(k, "provision becomes another user with sudo only, found %q", s)
		}
	}
	if c.Type == ConnChroot && !filepath.IsAbs(c.Host) {
		fail("ansible_host", "a chroot connection needs ansible_host set to the image tree's absolute path, found %q", c.Host)
	}
	if len(errs) > 0 {
		return c, notes, errs.Sort()
	}
	return c, notes, nil
}

// ansibleBool reads a boolean as Ansible's boolean() does.
func ansibleBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int:
		if x == 0 || x == 1 {
			return x == 1, true
		}
	case float64:
		if x == 0 || x == 1 {
			return x == 1, true
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "y", "yes", "on", "1", "true", "t":
			return true, true
		case "n", "no", "off", "0", "false", "f":
			return false, true
		}
	}
	return false, false
}

func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~"))
}

func isIPAddress(s string) bool { return net.ParseIP(s) != nil }
