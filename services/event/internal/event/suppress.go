package event

import (
	"bytes"
	"encoding/json"
	"strings"
)

// scrubSuppressed removes from ev what the profile service refused as
// suppressed: identifiers of an erased person. The identifiers leave the
// event, and every string in its traits, properties and context that equals
// one of their values (ignoring case and surrounding space) is deleted, so
// the event stores nothing of that person while the rest of it (the
// identifiers that did resolve) is kept.
func scrubSuppressed(ev *Event, suppressed []Identifier) {
	if len(suppressed) == 0 {
		return
	}
	values := map[string]bool{}
	gone := map[Identifier]bool{}
	for _, id := range suppressed {
		gone[id] = true
		values[normalizeValue(id.Value)] = true
	}
	kept := ev.Identifiers[:0:0]
	for _, id := range ev.Identifiers {
		if !gone[id] {
			kept = append(kept, id)
		}
	}
	ev.Identifiers = kept
	ev.Traits = scrubJSON(ev.Traits, values)
	ev.Properties = scrubJSON(ev.Properties, values)
	ev.Context = scrubJSON(ev.Context, values)
}

func normalizeValue(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// scrubJSON returns raw without the object members and array elements
// whose string value is one of values; raw itself when nothing matches or
// it is not JSON.
func scrubJSON(raw json.RawMessage, values map[string]bool) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	v, changed := scrubValue(v, values)
	if !changed {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

func scrubValue(v any, values map[string]bool) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		changed := false
		for k, e := range x {
			if s, ok := e.(string); ok && values[normalizeValue(s)] {
				delete(x, k)
				changed = true
				continue
			}
			var c bool
			x[k], c = scrubValue(e, values)
			changed = changed || c
		}
		return x, changed
	case []any:
		changed := false
		kept := x[:0]
		for _, e := range x {
			if s, ok := e.(string); ok && values[normalizeValue(s)] {
				changed = true
				continue
			}
			e, c := scrubValue(e, values)
			changed = changed || c
			kept = append(kept, e)
		}
		return kept, changed
	}
	return v, false
}
