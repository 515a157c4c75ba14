package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

var markers = map[Status]struct{ text, color string }{
	Pass: {"[pass]", ansiGreen},
	Warn: {"[WARN]", ansiYellow},
	Fail: {"[FAIL]", ansiBold + ansiRed},
	Skip: {"[skip]", ansiDim},
}

// Render writes the report for humans: one section per user (host-wide
// checks first), one line per check, and for every check that did not
// pass the indented found, symptom and fix lines; then a summary line.
func Render(w io.Writer, r Report, color bool) error {
	var b strings.Builder
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + ansiReset
	}
	groups := append([]string{""}, r.Users...)
	for gi, g := range groups {
		var rs []Result
		for _, res := range r.Results {
			if res.User == g {
				rs = append(rs, res)
			}
		}
		if len(rs) == 0 {
			continue
		}
		if gi > 0 && b.Len() > 0 {
			b.WriteString("\n")
		}
		if g == "" {
			b.WriteString(paint(ansiBold, "host (as root)") + "\n")
		} else {
			b.WriteString(paint(ansiBold, "user "+g) + "\n")
		}
		for _, res := range rs {
			m := markers[res.Status]
			line := fmt.Sprintf("  %s %2d %s", paint(m.color, m.text), res.ID, res.Title)
			if res.Status == Pass && res.Found != "" {
				line += ": " + firstLine(res.Found)
			}
			b.WriteString(line + "\n")
			if res.Status == Pass {
				continue
			}
			field(&b, "found", res.Found)
			field(&b, "symptom", res.Symptom)
			for i, f := range res.Fix {
				label := "fix"
				if i > 0 {
					label = "then"
				}
				field(&b, label, f.String())
			}
		}
	}
	c := r.Counts()
	fmt.Fprintf(&b, "\n%d %s: %d pass, %d warn, %d fail, %d skip\n", len(r.Results), plural(len(r.Results), "check", "checks"),
		c[Pass], c[Warn], c[Fail], c[Skip])
	_, err := io.WriteString(w, b.String())
	return err
}

// field writes "       label:   text" with continuation lines indented.
func field(b *strings.Builder, label, text string) {
	if text == "" {
		return
	}
	const indent = "         "
	pad := fmt.Sprintf("%-9s", label+":")
	for i, l := range strings.Split(text, "\n") {
		if i == 0 {
			b.WriteString(indent + pad + l + "\n")
		} else {
			b.WriteString(indent + strings.Repeat(" ", len(pad)) + l + "\n")
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// jsonReport is the JSON shape: the report plus its summary and exit code.
type jsonReport struct {
	Report
	Summary map[Status]int `json:"summary"`
	Exit    int            `json:"exit"`
}

// RenderJSON writes the report as one JSON document (version "v": 1) with
// a summary of the counts per status and the exit code.
func RenderJSON(w io.Writer, r Report) error {
	if r.V == 0 {
		r.V = 1
	}
	if r.Users == nil {
		r.Users = []string{}
	}
	if r.Results == nil {
		r.Results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{Report: r, Summary: r.Counts(), Exit: r.ExitCode()})
}
