package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Limits of the JSON objects of an event received as JSON; beyond them
// Postgres's jsonb, or the float64 of the consumers, cannot hold a value.
const (
	// maxJSONDepth bounds nesting: jsonb's parser recurses per level.
	maxJSONDepth = 1000
	// maxNumberLen and maxExponent keep numbers within jsonb's numeric.
	maxNumberLen = 400
	maxExponent  = 400
)

// jsonObject returns text, the JSON text of an object field of an event
// (properties_json and the like), as storableJSON does, or says why it is
// not a storable JSON object.
func jsonObject(text string) (json.RawMessage, error) {
	raw := json.RawMessage(text)
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); trimmed[0] != '{' {
		return nil, fmt.Errorf("must be a JSON object, got %s", jsonKind(trimmed[0]))
	}
	return storableJSON(raw)
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// storableJSON returns raw, a valid JSON value, in a form every store and
// consumer can hold, or says why it cannot be stored: a string or key with
// the NUL character (which Postgres text cannot hold), a number beyond
// float64, nesting beyond maxJSONDepth. A value with \u escapes is
// decoded and encoded again, so that escaped keys read as the same keys
// (normalization looks for "currency" and "category") and a lone UTF-16
// surrogate becomes U+FFFD, as encoding/json decodes it; other values are
// returned as they are.
func storableJSON(raw json.RawMessage) (json.RawMessage, error) {
	escaped, depth := false, 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '{' || c == '[':
			if depth++; depth > maxJSONDepth {
				return nil, fmt.Errorf("nested more than %d levels deep", maxJSONDepth)
			}
			i++
		case c == '}' || c == ']':
			depth--
			i++
		case c == '"':
			end, esc, err := stringToken(raw, i)
			if err != nil {
				return nil, err
			}
			escaped = escaped || esc
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end := i + 1
			for end < len(raw) && bytes.IndexByte([]byte("+-.0123456789eE"), raw[end]) >= 0 {
				end++
			}
			if err := checkNumber(string(raw[i:end])); err != nil {
				return nil, err
			}
			i = end
		default:
			i++
		}
	}
	if !escaped {
		return raw, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// stringToken returns the end of the valid JSON string at raw[i] and
// whether it holds \u escapes, refusing an escaped NUL.
func stringToken(raw []byte, i int) (int, bool, error) {
	escaped := false
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			if raw[j+1] == 'u' {
				escaped = true
				if string(raw[j+2:j+6]) == "0000" {
					return 0, false, errors.New(`a string holds the NUL character (\u0000), which cannot be stored`)
				}
				j += 4
			}
			j++
		}
	}
	return 0, false, errors.New("unterminated string")
}

// checkNumber refuses a number that float64 or jsonb's numeric cannot hold.
func checkNumber(s string) error {
	if len(s) > maxNumberLen {
		return fmt.Errorf("the number %.20s… is %d characters long; the limit is %d", s, len(s), maxNumberLen)
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return fmt.Errorf("the number %s is out of range", s)
	}
	if e := bytes.IndexAny([]byte(s), "eE"); e >= 0 {
		if exp, err := strconv.Atoi(s[e+1:]); err != nil || exp > maxExponent || exp < -maxExponent {
			return fmt.Errorf("the number %s is out of range", s)
		}
	}
	return nil
}
