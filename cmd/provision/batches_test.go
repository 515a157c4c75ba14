package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
)

// TestFleetRunAddsEveryCount checks that a host's counts of several
// plays (play-by-play runs) are summed, every field of them.
func TestFleetRunAddsEveryCount(t *testing.T) {
	fill := func(n int) *report.Counts {
		c := &report.Counts{}
		v := reflect.ValueOf(c).Elem()
		for i := 0; i < v.NumField(); i++ {
			switch f := v.Field(i); f.Kind() {
			case reflect.Int:
				f.SetInt(int64(n))
			case reflect.Bool:
				f.SetBool(n == 2)
			}
		}
		return c
	}
	fr := &fleetRun{recap: map[string]*report.Counts{}}
	fr.add("h", fill(1))
	fr.add("h", fill(2))
	v := reflect.ValueOf(fr.recap["h"]).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Int && f.Int() != 3 || f.Kind() == reflect.Bool && !f.Bool() {
			t.Errorf("%s = %v after adding 1 and 2 (false and true)", v.Type().Field(i).Name, f)
		}
	}
}

// TestStopWhy checks when a batch stops the run: every host failed, or
// more than max_fail_percentage of them.
func TestStopWhy(t *testing.T) {
	pct := func(n int) *int { return &n }
	for _, c := range []struct {
		max          *int
		failed, size int
		stop         string
	}{
		{nil, 0, 5, ""},
		{nil, 4, 5, ""},
		{nil, 5, 5, "every host of the batch failed (5 of 5)"},
		{pct(40), 2, 5, ""}, // 40% is not more than 40%
		{pct(40), 3, 5, "3 of 5 hosts of the batch failed, more than max_fail_percentage 40%"},
		{pct(0), 1, 20, "1 of 20 hosts"},
		{pct(0), 0, 20, ""},
		{pct(100), 4, 5, ""},
	} {
		got := stopWhy(&playbook.Play{MaxFailPct: c.max}, c.failed, c.size)
		if c.stop == "" && got != "" || c.stop != "" && !strings.HasPrefix(got, c.stop) {
			t.Errorf("max %v, %d of %d failed: %q, want %q", c.max, c.failed, c.size, got, c.stop)
		}
	}
}
