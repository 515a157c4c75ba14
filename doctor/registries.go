package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/provision-tool/provision/tasks/containers/podmanconf"
)

// regConfig is the registries.conf configuration one user gets, read with
// podman's own loader (tasks/containers/podmanconf, domain.md §2.3): the
// per-user main file replaces the system one; drop-ins follow in name
// order, system ones only with the system main file.
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
	line   int // of a TOML error; 0 when podman names none
	msg    string
	toml   bool // a TOML syntax or type error
	dropIn bool
	v1     v1Lists
}

// v1Lists are the registries of the deprecated v1 tables of a file.
type v1Lists struct {
	search, insecure, block []string
	present                 bool
}

// registriesConfig reads the registries configuration of s.
func (e *env) registriesConfig(s *subject) *regConfig {
	main, files, err := podmanconf.RegistriesFiles(e.files(s), s.user.Home)
	rc := &regConfig{main: main}
	if err != nil {
		rc.errors = append(rc.errors, regError{msg: err.Error()})
		return rc
	}
	for _, f := range files {
		rc.files = append(rc.files, f.Path)
	}
	if cfg, err := podmanconf.LoadRegistries(files); err == nil {
		rc.search, rc.mode = cfg.Search, cfg.ShortNameMode
		return rc
	}
	data := map[string][]byte{}
	for _, f := range files {
		data[f.Path] = f.Data
	}
	for _, le := range podmanconf.RefusedFiles(files) {
		re := regError{path: le.Path, line: le.Line, msg: le.Msg, dropIn: le.DropIn, toml: strings.Contains(le.Msg, "toml:")}
		var doc map[string]any
		if _, err := toml.Decode(string(data[le.Path]), &doc); err == nil {
			re.v1 = v1Tables(doc)
		}
		rc.errors = append(rc.errors, re)
	}
	return rc
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
		switch {
		case re.toml && re.line > 0:
			fx = append(fx, note(fmt.Sprintf("correct the TOML syntax of %s (line %d)", re.path, re.line)))
			continue
		case re.toml || re.path == "":
			fx = append(fx, note("correct the TOML syntax of "+re.path))
			continue
		case !re.v1.present:
			fx = append(fx, note("correct the value podman names in "+re.path))
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

// configFilesOutcome is registriesOutcome with the storage.conf podman
// refuses, if any, added.
func configFilesOutcome(rc *regConfig, sc storageConf, prefix string) outcome {
	if sc.err == nil {
		return registriesOutcome(rc, prefix)
	}
	o := outcome{status: Fail, found: prefix}
	if len(rc.errors) > 0 {
		o = registriesOutcome(rc, prefix)
		o.found += "\n"
		o.symptom += "\n"
	}
	o.found += sc.err.Error()
	what := "correct " + sc.file + "; podman reads it with containers/storage and stops at this error"
	if sc.file == "" {
		what = "make the storage.conf named above readable"
	} else {
		var le *podmanconf.LoadError
		if errors.As(sc.err, &le) {
			o.symptom += fmt.Sprintf("Failed to read %s %s", le.Path, le.Msg)
		}
	}
	o.fix = append(o.fix, note(what))
	return o
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
