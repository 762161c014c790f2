package page_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/page"
)

func TestSize(t *testing.T) {
	for _, tt := range []struct {
		requested int32
		want      int
	}{{0, page.DefaultSize}, {1, 1}, {page.MaxSize, page.MaxSize}, {page.MaxSize + 1, page.MaxSize}} {
		got, err := page.Size(tt.requested)
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "page size %d", tt.requested)
	}
	_, err := page.Size(-1)
	require.ErrorContains(t, err, "page_size")
}

func TestTokenRoundTrip(t *testing.T) {
	type key struct {
		ID  string
		Seq int64
	}
	token := page.Encode(key{"p-1", 42})
	var got key
	ok, err := page.Decode(token, &got)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, key{"p-1", 42}, got)

	ok, err = page.Decode("", &got)
	require.NoError(t, err)
	require.False(t, ok)

	_, err = page.Decode("not a token!", &got)
	require.ErrorContains(t, err, "page_token")
}

func TestTrim(t *testing.T) {
	key := func(n int) any { return n }
	items, token := page.Trim([]int{1, 2, 3}, 2, key)
	require.Equal(t, []int{1, 2}, items)
	var after int
	ok, err := page.Decode(token, &after)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 2, after)

	items, token = page.Trim([]int{1, 2}, 2, key)
	require.Equal(t, []int{1, 2}, items)
	require.Empty(t, token, "no next page")
}

func TestParse(t *testing.T) {
	var after string
	size, err := page.Parse(0, page.Encode("p-1"), &after)
	require.NoError(t, err)
	require.Equal(t, page.DefaultSize, size)
	require.Equal(t, "p-1", after)

	_, err = page.Parse(-2, "garbage!", &after)
	var invalid *apierror.InvalidError
	require.ErrorAs(t, err, &invalid)
	require.Len(t, invalid.Violations, 2, "both fields reported")
	require.Equal(t, "page_size", invalid.Violations[0].Field)
	require.Equal(t, "page_token", invalid.Violations[1].Field)
}
