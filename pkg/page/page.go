// Package page implements the paging conventions of every Barista list
// method: page sizes with a default and a cap, and opaque keyset page tokens
// (never offsets), so that pages stay stable while data changes.
package page

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Default and maximum page sizes of list methods.
const (
	DefaultSize = 50
	MaxSize     = 1000
)

// Size returns the page size to use for a requested size: DefaultSize for 0,
// an error for negative sizes, and at most MaxSize.
func Size(requested int32) (int, error) {
	switch {
	case requested < 0:
		return 0, apierror.Invalid("page_size", "must not be negative, got %d", requested)
	case requested == 0:
		return DefaultSize, nil
	case requested > MaxSize:
		return MaxSize, nil
	}
	return int(requested), nil
}

// Encode returns the opaque token for a page that starts after key. key is
// any JSON-encodable value, typically the sort key of the last item returned.
func Encode(key any) string {
	b, err := json.Marshal(key)
	if err != nil {
		panic(fmt.Sprintf("page: encoding key %v: %v", key, err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a token made by Encode into key. An empty token leaves key
// untouched and returns false: the first page.
func Decode(token string, key any) (bool, error) {
	if token == "" {
		return false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(b, key)
	}
	if err != nil {
		return false, apierror.Invalid("page_token", "is not a token returned by this method")
	}
	return true, nil
}

// Trim takes the items of a page read with a limit of size+1 (one more than
// the page holds, to learn whether another page follows), keeps the first
// size, and returns them with the token of the next page, made from the key
// of the last item kept; the token is "" on the last page.
func Trim[T any](items []T, size int, key func(T) any) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, Encode(key(items[size-1]))
}

// Parse reads a list request's page_size and page_token (into key) and
// returns the page size, or an *apierror.InvalidError naming each bad field.
func Parse(requestedSize int32, token string, key any) (int, error) {
	invalid := &apierror.InvalidError{}
	size, err := Size(requestedSize)
	invalid.Merge(err)
	_, err = Decode(token, key)
	invalid.Merge(err)
	return size, invalid.OrNil()
}
