package testhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Host settings the harness changes are recorded, with their original
// values, in CACHE/restore.json before they are changed, so that the next run
// (CleanupStale) puts them back if this one is killed.

type savedSettings struct {
	Sysctl   map[string]string `json:"sysctl,omitempty"`
	FileMode map[string]uint32 `json:"file_mode,omitempty"`
}

func settingsPath(cache string) string { return filepath.Join(cache, "restore.json") }

func loadSettings(cache string) (savedSettings, error) {
	var s savedSettings
	b, err := os.ReadFile(settingsPath(cache))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", settingsPath(cache), err)
	}
	return s, nil
}

func saveSettings(cache string, s savedSettings) error {
	if len(s.Sysctl) == 0 && len(s.FileMode) == 0 {
		err := os.Remove(settingsPath(cache))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := settingsPath(cache) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, settingsPath(cache))
}

func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(key, val string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(val+"\n"), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, val, err)
	}
	return nil
}

// raiseSysctlAtLeast sets key to min when it is lower, recording the
// original value first. Called with hs.mu held.
func raiseSysctlAtLeast(cache, key string, min int) error {
	cur, err := readSysctl(key)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(cur)
	if err != nil {
		return fmt.Errorf("sysctl %s: %q is not a number", key, cur)
	}
	if n >= min {
		return nil
	}
	s, err := loadSettings(cache)
	if err != nil {
		return err
	}
	if s.Sysctl == nil {
		s.Sysctl = map[string]string{}
	}
	if _, ok := s.Sysctl[key]; !ok {
		s.Sysctl[key] = cur
	}
	if err := saveSettings(cache, s); err != nil {
		return err
	}
	return writeSysctl(key, strconv.Itoa(min))
}

// chmodRecorded changes a host file's mode, recording the original first.
func chmodRecorded(cache, path string, mode os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	s, err := loadSettings(cache)
	if err != nil {
		return err
	}
	if s.FileMode == nil {
		s.FileMode = map[string]uint32{}
	}
	if _, ok := s.FileMode[path]; !ok {
		s.FileMode[path] = uint32(fi.Mode().Perm())
	}
	if err := saveSettings(cache, s); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// restoreSettings puts back every recorded sysctl and file mode.
func restoreSettings(cache string) error {
	if cache == "" {
		return nil
	}
	s, err := loadSettings(cache)
	if err != nil {
		return err
	}
	var errs *multierror.Error
	for k, v := range s.Sysctl {
		if err := writeSysctl(k, v); err != nil {
			errs = multierror.Append(errs, err)
			continue
		}
		delete(s.Sysctl, k)
	}
	for p, m := range s.FileMode {
		if err := os.Chmod(p, os.FileMode(m)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = multierror.Append(errs, err)
			continue
		}
		delete(s.FileMode, p)
	}
	if err := saveSettings(cache, s); err != nil {
		errs = multierror.Append(errs, err)
	}
	return errs.ErrorOrNil()
}
