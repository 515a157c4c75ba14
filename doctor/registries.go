package doctor

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

const systemRegistries = "/etc/containers/registries.conf"

// regConfig is the registries.conf configuration one user gets, read the
// way containers/image reads it (domain.md §2.3): the per-user main file
// replaces the system one; drop-ins follow in name order, system ones only
// with the system main file.
type regConfig struct {
	main   string   // the main file in effect (it may not exist)
	files  []string // files that exist and were read
	errors []regError
	search []string // effective unqualified-search-registries
	mode   string   // effective short-name-mode
}

// regError is a file podman refuses to load, with podman's message.
type regError struct {
	path   string
	msg    string
	dropIn bool
	v1     v1Lists
}

// v1Lists are the registries of the deprecated v1 tables of a file.
type v1Lists struct {
	search, insecure, block []string
	present                 bool
}

var v2Keys = []string{"unqualified-search-registries", "registry", "short-name-mode", "aliases", "credential-helpers"}

// registriesConfig reads the registries configuration of s.
func (e *env) registriesConfig(s *subject) *regConfig {
	rc := &regConfig{main: systemRegistries}
	userDir := path.Join(s.user.Home, ".config/containers")
	userMain := path.Join(userDir, "registries.conf")
	dirs := []string{"/etc/containers/registries.conf.d", path.Join(userDir, "registries.conf.d")}
	if e.sys.Exists(userMain) {
		rc.main = userMain
		dirs = dirs[1:]
	}
	rc.load(e, rc.main, false)
	for _, d := range dirs {
		entries, err := e.sys.ReadDir(d)
		if err != nil {
			continue
		}
		var names []string
		for _, ent := range entries {
			if !ent.IsDir() && strings.HasSuffix(ent.Name(), ".conf") {
				names = append(names, ent.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			rc.load(e, path.Join(d, n), true)
		}
	}
	return rc
}

func (rc *regConfig) load(e *env, p string, dropIn bool) {
	data, ok, err := e.sys.ReadFileIfExists(p)
	if err != nil || !ok {
		return
	}
	rc.files = append(rc.files, p)
	prefix := fmt.Sprintf("loading registries configuration %q: ", p)
	if dropIn {
		prefix = fmt.Sprintf("loading drop-in registries configuration %q: ", p)
	}
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		rc.errors = append(rc.errors, regError{path: p, msg: prefix + err.Error(), dropIn: dropIn})
		return
	}
	v1 := v1Tables(doc)
	v2 := false
	for _, k := range v2Keys {
		if _, ok := doc[k]; ok {
			v2 = true
		}
	}
	switch {
	case v1.present && dropIn:
		rc.errors = append(rc.errors, regError{path: p, msg: prefix + "registry must be in v2 format but is in v1", dropIn: true, v1: v1})
		return
	case v1.present && v2:
		rc.errors = append(rc.errors, regError{path: p, msg: prefix + "mixing sysregistry v1/v2 is not supported", v1: v1})
		return
	case v1.present:
		rc.search = v1.search
		return
	}
	if l, ok := doc["unqualified-search-registries"].([]any); ok {
		rc.search = nil
		for _, x := range l {
			if s, ok := x.(string); ok {
				rc.search = append(rc.search, s)
			}
		}
	}
	if m, ok := doc["short-name-mode"].(string); ok {
		rc.mode = m
	}
}

// v1Tables reads [registries.search], [registries.insecure] and
// [registries.block]; a `registries` key in any of them, even an empty
// list, makes the file v1 (containers/image#1753).
func v1Tables(doc map[string]any) v1Lists {
	var out v1Lists
	top, ok := doc["registries"].(map[string]any)
	if !ok {
		return out
	}
	for name, dst := range map[string]*[]string{"search": &out.search, "insecure": &out.insecure, "block": &out.block} {
		t, ok := top[name].(map[string]any)
		if !ok {
			continue
		}
		l, ok := t["registries"]
		if !ok {
			continue
		}
		out.present = true
		if items, ok := l.([]any); ok {
			for _, x := range items {
				if s, ok := x.(string); ok {
					*dst = append(*dst, s)
				}
			}
		}
	}
	return out
}

// registriesOutcome reports the files podman refuses to load, and the
// fix: drop the v1 tables and say the same in a v2 drop-in written by the
// registries task.
func registriesOutcome(rc *regConfig, prefix string) outcome {
	var found, symptoms []string
	var fx []Fix
	for _, re := range rc.errors {
		found = append(found, re.msg)
		symptoms = append(symptoms, "Error: getting registries: "+re.msg)
		if !re.v1.present {
			fx = append(fx, note("correct the TOML syntax of "+re.path))
			continue
		}
		what := "delete the v1 tables [registries.search], [registries.insecure] and [registries.block] from " + re.path
		if re.dropIn {
			what = "delete " + re.path + " (a v1 drop-in)"
		}
		fx = append(fx, note(what+"; they are deprecated and cannot be mixed with v2"))
		if strings.HasPrefix(re.path, "/etc/") {
			if t, ok := v1AsTask(re.v1); ok {
				t.Note = "the same settings in the v2 format, as a drop-in"
				fx = append(fx, t)
			}
		}
	}
	return outcome{status: Fail, found: prefix + strings.Join(found, "\n"), symptom: strings.Join(uniq(symptoms), "\n"), fix: fx}
}

// v1AsTask turns v1 lists into the registries task that says the same.
func v1AsTask(v v1Lists) (Fix, bool) {
	var args []arg
	if len(v.search) > 0 {
		args = append(args, arg{"unqualified_search_registries", v.search})
	}
	var regs []any
	for _, l := range v.insecure {
		regs = append(regs, []arg{{"location", l}, {"insecure", true}})
	}
	for _, l := range v.block {
		regs = append(regs, []arg{{"location", l}, {"blocked", true}})
	}
	if len(regs) > 0 {
		args = append(args, arg{"registries", regs})
	}
	if len(args) == 0 {
		return Fix{}, false
	}
	return task("registries", args...), true
}
