package playbook

import (
	"strings"
	"testing"
)

// TestTemplateFile renders Jinja statements in template files, with
// Ansible's trim_blocks and whitespace control.
func TestTemplateFile(t *testing.T) {
	src := `{# managed by provision #}
[users]
{% for u in users %}
{{ loop.index }}: {{ u | upper }}{% if loop.last %}.{% endif %}

{% endfor %}
{% if missing is defined %}
missing
{% elif name | lower == 'alice' -%}
  alice
{% else %}
other
{% endif %}
{% set n = users | length %}
n={{ n }}
{% for k, v in opts.items() %}{{ k }}={{ v }}{% endfor %}

{% for x in [] %}x{% else %}none{% endfor %}
`
	got, err := jinjaScope().RenderTemplate(src)
	if err != nil {
		t.Fatal(err)
	}
	want := "[users]\n1: ALICE\n2: BOB.\nalice\nn=2\na=1\nnone"
	if strings.TrimSpace(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestTemplateFileErrors: statements are checked before anything renders.
func TestTemplateFileErrors(t *testing.T) {
	for src, want := range map[string]string{
		"{% if x %}a":                   "without {% endif %}",
		"{% for x in y %}a":             "without {% endfor %}",
		"{% endif %}":                   "unexpected {% endif %}",
		"{% macro m() %}{% endmacro %}": "{% macro %} is not supported",
		"a\n{{ x | nofilter }}":         `line 2: unknown filter "nofilter"`,
		"{% if x %}":                    "",
		"{{ x":                          "unclosed {{",
		"{% if x %}\n{# c #}\n{{ y | bad }}{% endif %}": `line 3: unknown filter "bad"`,
	} {
		err := CheckTemplateFile(src)
		if want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

// TestTemplateFileDataStaysData: a value holding template syntax is
// written as it is.
func TestTemplateFileDataStaysData(t *testing.T) {
	s := jinjaScope()
	s.Vars["evil"] = "{% for x in users %}{{ x }}{% endfor %}"
	got, err := s.RenderTemplate("{% if true %}{{ evil }}{% endif %}")
	if err != nil || got != s.Vars["evil"] {
		t.Errorf("got %q, %v", got, err)
	}
}

// FuzzTemplateFile: template files never make the parser or the renderer
// panic.
func FuzzTemplateFile(f *testing.F) {
	for _, s := range []string{"{% for u in users %}{{ u }}{% else %}-{% endfor %}", "{% if a %}x{% elif b %}y{% else %}z{% endif %}",
		"{%- set n = 1 -%}{{ n }}{# c #}", "{% endfor %}", "{{", "{%", "{#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 300 {
			return
		}
		if CheckTemplateFile(text) == nil {
			_, _ = jinjaScope().RenderTemplate(text)
		}
	})
}
