package api

import (
	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/page"
)

// parsePosition reads the page size and the page token of a list whose
// tokens hold a position (a merge, candidate or trait change number; 0 for
// the first page), adding any violation to invalid.
func parsePosition(pageSize int32, token string, invalid *apierror.InvalidError) (int, int64) {
	var pos int64
	size, err := page.Parse(pageSize, token, &pos)
	invalid.Merge(err)
	if pos < 0 {
		invalid.Add("page_token", "is not a token returned by this method")
	}
	return size, pos
}

// positionToken is the token of the page after position next; "" when no
// page follows (next is 0).
func positionToken(next int64) string {
	if next == 0 {
		return ""
	}
	return page.Encode(next)
}
