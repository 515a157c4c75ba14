package playbook

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr/vm/runtime"
)

// ansibleFactNames are Ansible's fact variables provision answers from
// its own facts.
var ansibleFactNames = map[string]bool{
	"ansible_os_family": true, "ansible_distribution": true, "ansible_distribution_version": true,
	"ansible_distribution_major_version": true, "ansible_architecture": true, "ansible_hostname": true,
	"ansible_user_id": true, "ansible_kernel": true, "ansible_pkg_mgr": true, "ansible_facts": true,
}

// distributions are Ansible's spellings of os-release IDs.
var distributions = map[string]string{
	"debian": "Debian", "ubuntu": "Ubuntu", "fedora": "Fedora", "centos": "CentOS", "rhel": "RedHat",
	"rocky": "Rocky", "almalinux": "AlmaLinux", "opensuse-leap": "openSUSE Leap", "arch": "Archlinux",
	"alpine": "Alpine", "amzn": "Amazon", "ol": "OracleLinux",
}

// families are Ansible's spellings of os families.
var families = map[string]string{"debian": "Debian", "redhat": "RedHat", "suse": "Suse", "arch": "Archlinux", "alpine": "Alpine"}

// ansibleFacts maps provision's facts to Ansible's fact variables, also
// given under ansible_facts without the prefix.
func ansibleFacts(f map[string]any) map[string]any {
	osf, _ := f["os"].(map[string]any)
	id, _ := osf["id"].(string)
	family, _ := osf["family"].(string)
	version, _ := osf["version_id"].(string)
	major, _, _ := strings.Cut(version, ".")
	out := map[string]any{
		"ansible_os_family":                  spell(families, family),
		"ansible_distribution":               spell(distributions, id),
		"ansible_distribution_version":       version,
		"ansible_distribution_major_version": major,
		"ansible_architecture":               f["arch"],
		"ansible_hostname":                   f["hostname"],
		"ansible_user_id":                    f["user_id"],
		"ansible_kernel":                     f["kernel"],
		"ansible_pkg_mgr":                    f["package_manager"],
	}
	short := map[string]any{}
	for k, v := range out {
		short[strings.TrimPrefix(k, "ansible_")] = v
	}
	out["ansible_facts"] = short
	return out
}

func spell(m map[string]string, s string) string {
	if v, ok := m[s]; ok {
		return v
	}
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// truthy is Jinja's truth: false, nil, 0, "" and empty lists and maps
// are false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int:
		return x != 0
	case int64:
		return x != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// ansibleBool is Ansible's bool filter: true for true, 1, and the strings
// yes, on, 1, true, y, t (any case); false for anything else.
func ansibleBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int:
		return x == 1
	case int64:
		return x == 1
	case float64:
		return x == 1
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes", "on", "1", "true", "y", "t":
			return true
		}
	}
	return false
}

// within is Jinja's `in`: a substring of a string, an element of a list,
// a key of a mapping.
func within(x, y any) (bool, error) {
	switch c := y.(type) {
	case string:
		s, ok := x.(string)
		if !ok {
			return false, fmt.Errorf("in: %s is not a string, so it cannot be in one", Stringify(x))
		}
		return strings.Contains(c, s), nil
	case []any:
		for _, e := range c {
			if runtime.Equal(e, x) {
				return true, nil
			}
		}
		return false, nil
	case []string:
		for _, e := range c {
			if e == x {
				return true, nil
			}
		}
		return false, nil
	case map[string]any:
		k, ok := x.(string)
		if !ok {
			return false, nil
		}
		_, found := c[k]
		return found, nil
	case nil:
		return false, fmt.Errorf("in: the right side is undefined")
	}
	return false, fmt.Errorf("in: %s is not a string, list or mapping", Stringify(y))
}
