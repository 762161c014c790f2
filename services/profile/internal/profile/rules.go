package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/barista-cdp/barista/pkg/ident"
)

// Rules are the merge rules as configured: which identifier types win, how
// many identifiers of a type one profile may hold, which values are junk,
// and which types are protected from joining different people. The zero
// value of a field means its default (see DefaultRules); a rules file
// replaces the defaults field by field.
type Rules struct {
	// Priority lists identifier types, strongest first. When identifiers
	// seen together would break a limit, the weaker one is dropped. Types
	// not listed rank after all listed types, in request order.
	Priority []string `yaml:"priority"`
	// Limits cap the identifiers of a type that one profile holds.
	Limits []Limit `yaml:"limits"`
	// Blocked values are never linked nor used to resolve, besides the
	// built-in junk list unless BuiltinJunk is false.
	Blocked []Block `yaml:"blocked"`
	// BuiltinJunk enables the built-in list of junk values (JunkValues and
	// JunkPatterns); default true.
	BuiltinJunk *bool `yaml:"builtin_junk"`
	// SharedTypes are the identifier types of shared devices and browsers.
	// One seen with a second, different user id becomes shared: it stays
	// linked to the profile that held it but no longer resolves or merges
	// anything.
	SharedTypes []string `yaml:"shared_types"`
}

// Limit caps the identifiers of Type that one profile holds: at most Max,
// counting only those first seen within Window before an observation when
// Window is set (0 means ever).
type Limit struct {
	// Type is the identifier type limited.
	Type string `yaml:"type"`
	// Max is the most identifiers of Type a profile may hold.
	Max int `yaml:"max"`
	// Window is the period counted, such as "168h", "7d" or "1w"; empty
	// counts all.
	Window Window `yaml:"window"`
}

// Block names values never to link: an exact value, or a regular
// expression that must match the whole value, of one type or ("") any.
type Block struct {
	// Type is the identifier type the block applies to; empty for all.
	Type string `yaml:"type"`
	// Value is an exact normalized value.
	Value *string `yaml:"value"`
	// Pattern is an RE2 expression matched against the whole value.
	Pattern string `yaml:"pattern"`
}

// Window is a duration that also reads days ("7d") and weeks ("1w").
type Window time.Duration

// UnmarshalYAML reads a Go duration ("168h") or a number of days or weeks.
func (w *Window) UnmarshalYAML(node *yaml.Node) error {
	d, err := ParseWindow(node.Value)
	if err != nil {
		return err
	}
	*w = Window(d)
	return nil
}

// String returns the window in the form ParseWindow reads, in whole weeks
// or days when it is one.
func (w Window) String() string {
	d := time.Duration(w)
	switch {
	case d == 0:
		return ""
	case d%(7*24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(7*24*time.Hour)), 10) + "w"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// ParseWindow reads a window: a Go duration, or a whole number of days
// ("7d") or weeks ("1w"); empty is 0, no window.
func ParseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				return time.Duration(v) * unit, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("window %q: want a duration such as 168h, 7d or 1w", s)
	}
	return d, nil
}

// JunkValues are values that tracking code sends when it has no real
// identifier; BuiltinJunk blocks them for every type, ignoring case.
var JunkValues = []string{
	"", "null", "nil", "none", "undefined", "0", "-1", "anonymous", "unknown", "n/a", "na", "[object object]",
	"test@test.com", "test@example.com", "email@example.com", "user@example.com", "a@a.com", "noemail@noemail.com",
	"no@email.com", "none@none.com", "00000000-0000-0000-0000-000000000000",
}

// JunkPatterns are the built-in regular expressions for junk: all-zero
// values, and obvious test emails.
var JunkPatterns = []Block{
	{Pattern: `[0-]+`},
	{Type: ident.Email, Pattern: `(test|asdf|qwerty|fake|noreply|no-reply|donotreply)[0-9]*@.*`},
	{Type: ident.Email, Pattern: `.*@(test\.com|localhost|.*\.test|.*\.invalid|.*\.localhost)`},
}

// DefaultRules returns the built-in rules: user_id, email, phone, device_id,
// anonymous_id in that priority; at most 1 user id ever and 5 anonymous ids
// per week; built-in junk blocked; device_id and anonymous_id protected as
// shared-device identifiers.
func DefaultRules() Rules {
	junk := true
	return Rules{
		Priority: []string{ident.UserID, ident.Email, ident.Phone, ident.DeviceID, ident.AnonymousID},
		Limits: []Limit{
			{Type: ident.UserID, Max: 1},
			{Type: ident.AnonymousID, Max: 5, Window: Window(7 * 24 * time.Hour)},
		},
		BuiltinJunk: &junk,
		SharedTypes: []string{ident.DeviceID, ident.AnonymousID},
	}
}

// LoadRules reads rules from a YAML or JSON file; fields it leaves out keep
// their defaults. An empty path returns the defaults.
func LoadRules(path string) (*Policy, error) {
	var rules Rules
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read merge rules: %w", err)
		}
		if rules, err = ParseRules(data); err != nil {
			return nil, fmt.Errorf("merge rules %s: %w", path, err)
		}
	}
	return rules.Compile()
}

// ParseRules reads rules from YAML or JSON (which is YAML); unknown fields
// are errors. Fields left out stay nil, which Compile reads as the
// defaults.
func ParseRules(data []byte) (Rules, error) {
	var file Rules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return Rules{}, err
	}
	return file, nil
}

// withDefaults returns r with every nil field set to its default.
func (r Rules) withDefaults() Rules {
	d := DefaultRules()
	if r.Priority == nil {
		r.Priority = d.Priority
	}
	if r.Limits == nil {
		r.Limits = d.Limits
	}
	if r.BuiltinJunk == nil {
		r.BuiltinJunk = d.BuiltinJunk
	}
	if r.SharedTypes == nil {
		r.SharedTypes = d.SharedTypes
	}
	return r
}

// Policy is compiled Rules, ready to decide resolutions.
type Policy struct {
	rules  Rules
	rank   map[string]int
	limits map[string]Limit
	exact  map[blockKey]bool
	shared map[string]bool
	// patterns holds, per type ("" for any), the blocked patterns joined
	// into one expression, so that a value is matched once per type.
	patterns map[string]*regexp.Regexp
}

type blockKey struct{ typ, value string }

// Compile validates r, with its nil fields set to the defaults, and
// returns its Policy. The user_id limit must be at most 1 ever: the stores
// rely on it.
func (r Rules) Compile() (*Policy, error) {
	r = r.withDefaults()
	p := &Policy{
		rules:    r,
		rank:     map[string]int{},
		limits:   map[string]Limit{},
		exact:    map[blockKey]bool{},
		shared:   map[string]bool{},
		patterns: map[string]*regexp.Regexp{},
	}
	var errs []error
	for i, typ := range r.Priority {
		if _, dup := p.rank[typ]; dup {
			errs = append(errs, fmt.Errorf("priority[%d]: %s is listed twice", i, typ))
		}
		p.rank[typ] = i
	}
	for i, l := range r.Limits {
		switch _, dup := p.limits[l.Type]; {
		case l.Type == "":
			errs = append(errs, fmt.Errorf("limits[%d]: type is required", i))
		case dup:
			errs = append(errs, fmt.Errorf("limits[%d]: %s is limited twice", i, l.Type))
		case l.Max < 1:
			errs = append(errs, fmt.Errorf("limits[%d]: max must be at least 1, got %d", i, l.Max))
		}
		p.limits[l.Type] = l
	}
	if l := p.limits[ident.UserID]; l.Max != 1 || l.Window != 0 {
		errs = append(errs, errors.New("limits: user_id must be limited to max 1 with no window, since a profile is one user"))
	}
	blocks := slices.Clone(r.Blocked)
	if r.BuiltinJunk == nil || *r.BuiltinJunk {
		for _, v := range JunkValues {
			blocks = append(blocks, Block{Value: &v})
		}
		blocks = append(blocks, JunkPatterns...)
	}
	byType := map[string][]string{}
	for i, b := range blocks {
		switch {
		case (b.Value == nil) == (b.Pattern == ""):
			errs = append(errs, fmt.Errorf("blocked[%d]: set exactly one of value and pattern", i))
		case b.Value != nil:
			p.exact[blockKey{b.Type, strings.ToLower(*b.Value)}] = true
		default:
			if _, err := regexp.Compile(b.Pattern); err != nil {
				errs = append(errs, fmt.Errorf("blocked[%d]: pattern: %w", i, err))
				continue
			}
			byType[b.Type] = append(byType[b.Type], "(?:"+b.Pattern+")")
		}
	}
	for typ, alternatives := range byType {
		p.patterns[typ] = regexp.MustCompile(`^(?i:` + strings.Join(alternatives, "|") + `)$`)
	}
	for _, typ := range r.SharedTypes {
		p.shared[typ] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// MustCompile is Compile for rules known to be valid, such as the defaults.
func (r Rules) MustCompile() *Policy {
	p, err := r.Compile()
	if err != nil {
		panic(err)
	}
	return p
}

// DefaultPolicy returns the compiled DefaultRules.
func DefaultPolicy() *Policy { return DefaultRules().MustCompile() }

// Rules returns the rules the policy was compiled from.
func (p *Policy) Rules() Rules {
	r := p.rules
	r.Priority = slices.Clone(r.Priority)
	r.Limits = slices.Clone(r.Limits)
	r.Blocked = slices.Clone(r.Blocked)
	r.SharedTypes = slices.Clone(r.SharedTypes)
	return r
}

// Rank returns the priority of an identifier type: lower wins.
func (p *Policy) Rank(typ string) int {
	if r, ok := p.rank[typ]; ok {
		return r
	}
	return len(p.rank)
}

// Blocked reports whether id is blocked, by an exact value or a pattern.
func (p *Policy) Blocked(id Identifier) bool {
	v := strings.ToLower(id.Value)
	if p.exact[blockKey{"", v}] || p.exact[blockKey{id.Type, v}] {
		return true
	}
	for _, typ := range []string{"", id.Type} {
		if re := p.patterns[typ]; re != nil && re.MatchString(id.Value) {
			return true
		}
	}
	return false
}

// exceeds returns the limit that adding ids (with the times they were first
// seen) to a group holding have would break, counting at time at, or nil.
// A group already over a limit (after a rules change) may still take
// identifiers of other types, or of that type outside the window.
func (p *Policy) exceeds(have, add map[Identifier]time.Time, at time.Time) *Limit {
	if len(have) == 0 {
		// The first identifier or profile always joins the group.
		return nil
	}
	for typ, l := range p.limits {
		before := p.count(have, nil, typ, l, at)
		after := p.count(have, add, typ, l, at)
		if after > l.Max && after > before {
			return &l
		}
	}
	return nil
}

func (p *Policy) count(have, add map[Identifier]time.Time, typ string, l Limit, at time.Time) int {
	n := 0
	counted := func(id Identifier, seen time.Time) bool {
		return id.Type == typ && (l.Window == 0 || !seen.Before(at.Add(-time.Duration(l.Window))))
	}
	for id, seen := range have {
		if counted(id, seen) {
			n++
		}
	}
	for id, seen := range add {
		if _, dup := have[id]; !dup && counted(id, seen) {
			n++
		}
	}
	return n
}

// describe says what a limit allows, such as "at most 5 anonymous_id per 1w".
func (l Limit) describe() string {
	if l.Window == 0 {
		return fmt.Sprintf("at most %d %s ever", l.Max, l.Type)
	}
	return fmt.Sprintf("at most %d %s per %s", l.Max, l.Type, l.Window)
}

// Duration returns the window as a time.Duration.
func (w Window) Duration() time.Duration { return time.Duration(w) }
