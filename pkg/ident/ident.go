// Package ident parses, validates and normalizes customer identifiers, the
// "type:value" pairs by which Barista recognises a person.
package ident

import (
	"fmt"
	"strings"
	"unicode"

	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

// Well-known identifier types.
const (
	AnonymousID = "anonymous_id"
	UserID      = "user_id"
	Email       = "email"
	Phone       = "phone"
	DeviceID    = "device_id"
)

// MaxValueLen is the longest identifier value accepted, in bytes.
const MaxValueLen = 512

// validType reports whether typ is a lowercase letter followed by up to
// 62 lowercase letters, digits and underscores. It is on the path of every
// ingested event, where a regular expression cost more than the rest of
// the validation.
func validType(typ string) bool {
	if len(typ) == 0 || len(typ) > 63 || typ[0] < 'a' || typ[0] > 'z' {
		return false
	}
	for i := 1; i < len(typ); i++ {
		if c := typ[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Parse reads the text form "type:value", such as "email:ana@example.com",
// and returns the normalized identifier.
func Parse(s string) (*typev1.Identifier, error) {
	typ, value, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("identifier %q: want type:value, such as email:ana@example.com or user_id:42", s)
	}
	return Normalize(&typev1.Identifier{Type: typ, Value: value})
}

// String returns the text form "type:value".
func String(id *typev1.Identifier) string {
	return id.GetType() + ":" + id.GetValue()
}

// Normalize validates id and returns a normalized copy: emails trimmed and
// lower-cased, phone numbers reduced to E.164 (+ and digits), other values
// trimmed of surrounding space.
func Normalize(id *typev1.Identifier) (*typev1.Identifier, error) {
	typ := strings.TrimSpace(id.GetType())
	if !validType(typ) {
		return nil, fmt.Errorf("identifier type %q: want lowercase letters, digits and underscores, starting with a letter", id.GetType())
	}
	value := strings.TrimSpace(id.GetValue())
	switch typ {
	case Email:
		value = strings.ToLower(value)
		if at := strings.IndexByte(value, '@'); at <= 0 || at == len(value)-1 || strings.ContainsFunc(value, unicode.IsSpace) {
			return nil, fmt.Errorf("email %q is not an email address", id.GetValue())
		}
	case Phone:
		p, err := e164(value)
		if err != nil {
			return nil, err
		}
		value = p
	}
	if value == "" {
		return nil, fmt.Errorf("identifier %s has an empty value", typ)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return nil, fmt.Errorf("identifier %s holds the NUL character (U+0000), which cannot be stored", typ)
	}
	if len(value) > MaxValueLen {
		return nil, fmt.Errorf("identifier %s is %d bytes long; the limit is %d", typ, len(value), MaxValueLen)
	}
	return &typev1.Identifier{Type: typ, Value: value}, nil
}

// e164 keeps the digits of a phone number written in international form
// ("+44 20 7946 0958", "0044 20...") and rejects numbers without a country
// code, which cannot be normalized without knowing the country.
func e164(raw string) (string, error) {
	s := raw
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") {
		return "", fmt.Errorf("phone %q: want international form with a country code, such as +442079460958", raw)
	}
	var b strings.Builder
	b.WriteByte('+')
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return "", fmt.Errorf("phone %q: unexpected character %q", raw, r)
		}
	}
	if n := b.Len() - 1; n < 8 || n > 15 {
		return "", fmt.Errorf("phone %q: an E.164 number has 8 to 15 digits, this has %d", raw, n)
	}
	return b.String(), nil
}
