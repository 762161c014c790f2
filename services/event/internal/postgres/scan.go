package postgres

import (
	"bytes"
	"encoding/json"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

// Scan targets of the jsonb columns of event.events. Every consumer of the
// log (the segment and metrics services) reads every event, so decoding
// them is a large part of what the log costs to read; pgx would pass each
// column to json.Unmarshal, which validates the document before decoding
// it, through reflection.

// rawJSON is the scan target of a jsonb column read into raw: its bytes,
// copied as Postgres sends them (SQL NULL as nil). A *json.RawMessage is
// not a *[]byte to pgx's type switch, so it would be validated again by
// json.Unmarshal; Postgres only sends valid JSON.
func rawJSON(raw *json.RawMessage) *[]byte { return (*[]byte)(raw) }

// identifiersColumn scans the identifiers column: a JSON array of
// {"type", "value"} objects.
type identifiersColumn []event.Identifier

// ScanBytes implements pgtype.BytesScanner.
func (c *identifiersColumn) ScanBytes(src []byte) error {
	if src == nil {
		*c = nil
		return nil
	}
	if ids, ok := plainIdentifiers(src); ok {
		*c = ids
		return nil
	}
	var ids []event.Identifier
	err := json.Unmarshal(src, &ids)
	*c = ids
	return err
}

// plainIdentifiers decodes src when it is written as Postgres writes a
// jsonb array of identifiers whose strings need no escapes:
// [{"type": "user_id", "value": "42"}, ...]. It reports false for anything
// else, which json.Unmarshal then decodes.
func plainIdentifiers(src []byte) ([]event.Identifier, bool) {
	r := jsonbReader(src)
	if !r.take("[") {
		return nil, false
	}
	ids := make([]event.Identifier, 0, 2)
	if r.take("]") {
		return ids, r.done()
	}
	for {
		var id event.Identifier
		var ok bool
		if !r.take(`{"type": `) {
			return nil, false
		}
		if id.Type, ok = r.plainString(); !ok || !r.take(`, "value": `) {
			return nil, false
		}
		if id.Value, ok = r.plainString(); !ok || !r.take("}") {
			return nil, false
		}
		ids = append(ids, id)
		if r.take("]") {
			return ids, r.done()
		}
		if !r.take(", ") {
			return nil, false
		}
	}
}

// traceContextColumn scans the trace_context column: a JSON object of
// strings.
type traceContextColumn map[string]string

// ScanBytes implements pgtype.BytesScanner.
func (c *traceContextColumn) ScanBytes(src []byte) error {
	if src == nil {
		*c = nil
		return nil
	}
	if m, ok := plainStringMap(src); ok {
		*c = m
		return nil
	}
	var m map[string]string
	err := json.Unmarshal(src, &m)
	*c = m
	return err
}

// plainStringMap decodes src when it is written as Postgres writes a
// jsonb object of strings that need no escapes: {"k": "v", ...}. It
// reports false for anything else.
func plainStringMap(src []byte) (map[string]string, bool) {
	r := jsonbReader(src)
	if !r.take("{") {
		return nil, false
	}
	m := make(map[string]string, 2)
	if r.take("}") {
		return m, r.done()
	}
	for {
		k, ok := r.plainString()
		if !ok || !r.take(": ") {
			return nil, false
		}
		if m[k], ok = r.plainString(); !ok {
			return nil, false
		}
		if r.take("}") {
			return m, r.done()
		}
		if !r.take(", ") {
			return nil, false
		}
	}
}

// jsonbReader reads JSON text as Postgres writes jsonb: a space after each
// colon and comma, none elsewhere.
type jsonbReader []byte

// take consumes token if the text continues with it.
func (r *jsonbReader) take(token string) bool {
	if !bytes.HasPrefix(*r, []byte(token)) {
		return false
	}
	*r = (*r)[len(token):]
	return true
}

// plainString consumes a JSON string without escapes and returns it.
func (r *jsonbReader) plainString() (string, bool) {
	if !r.take(`"`) {
		return "", false
	}
	end := bytes.IndexByte(*r, '"')
	if end < 0 || bytes.IndexByte((*r)[:end], '\\') >= 0 {
		return "", false
	}
	s := string((*r)[:end])
	*r = (*r)[end+1:]
	return s, true
}

// done reports whether everything was read.
func (r *jsonbReader) done() bool { return len(*r) == 0 }
