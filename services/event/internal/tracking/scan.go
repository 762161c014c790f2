package tracking

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// The request bodies are validated once (json.Valid); these functions then
// split valid JSON into raw members and elements in one pass, without the
// second scan and the copies of json.Unmarshal into json.RawMessage. The
// raw values alias the body.

var errNotValid = errors.New("not a valid JSON object or array")

// members returns the members of raw, a valid JSON object; a repeated key
// keeps its last value, as json.Unmarshal does.
func members(raw []byte) (map[string]json.RawMessage, error) {
	return membersInto(make(map[string]json.RawMessage, 8), raw)
}

// membersInto is members, into m, emptied first: a caller that splits many
// objects one after the other reuses one map.
func membersInto(m map[string]json.RawMessage, raw []byte) (map[string]json.RawMessage, error) {
	clear(m)
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, errNotValid
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return m, nil
	}
	for i < len(raw) {
		end, escaped := stringEnd(raw, i)
		if end < 0 {
			return nil, errNotValid
		}
		key, common := commonKeys[string(raw[i+1:end-1])]
		if !common {
			key = string(raw[i+1 : end-1])
		}
		if escaped || !utf8.ValidString(key) {
			if err := json.Unmarshal(raw[i:end], &key); err != nil {
				return nil, err
			}
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return nil, errNotValid
		}
		start := skipSpace(raw, i+1)
		end = valueEnd(raw, start)
		if end < 0 {
			return nil, errNotValid
		}
		m[key] = raw[start:end:end]
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return nil, errNotValid
		}
		switch raw[i] {
		case '}':
			return m, nil
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return nil, errNotValid
		}
	}
	return nil, errNotValid
}

// commonKeys are the member names of Segment calls, so that members finds
// them without allocating a string for each.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"type", "messageId", "userId", "anonymousId", "previousId", "groupId", "event", "name",
		"category", "properties", "traits", "context", "integrations", "timestamp", "originalTimestamp", "sentAt",
		"receivedAt", "writeKey", "batch", "email", "phone", "device", "id", "library", "version", "ip", "userAgent",
		"locale", "page", "os", "app", "campaign", "channel"} {
		m[k] = k
	}
	return m
}()

// elements returns the elements of raw, a valid JSON array.
func elements(raw []byte) ([]json.RawMessage, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, errNotValid
	}
	out := []json.RawMessage{}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return out, nil
	}
	for i < len(raw) {
		end := valueEnd(raw, i)
		if end < 0 {
			return nil, errNotValid
		}
		out = append(out, raw[i:end:end])
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return nil, errNotValid
		}
		switch raw[i] {
		case ']':
			return out, nil
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return nil, errNotValid
		}
	}
	return nil, errNotValid
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string that starts at raw[i], and
// whether it holds escapes; -1 when raw[i] starts no complete string.
func stringEnd(raw []byte, i int) (int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return -1, false
	}
	escaped := false
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, false
}

// valueEnd returns the index after the value that starts at raw[i], or -1.
func valueEnd(raw []byte, i int) int {
	if i >= len(raw) {
		return -1
	}
	switch raw[i] {
	case '"':
		end, _ := stringEnd(raw, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				end, _ := stringEnd(raw, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	// A number, true, false or null: up to the next delimiter.
	j := i
	for j < len(raw) && raw[j] != ',' && raw[j] != '}' && raw[j] != ']' && raw[j] != ' ' && raw[j] != '\t' && raw[j] != '\n' && raw[j] != '\r' {
		j++
	}
	return j
}
