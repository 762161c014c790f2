package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func testListChanges(t *testing.T, s segment.Store) {
	ctx := context.Background()
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		for _, id := range []string{"a", "b"} {
			require.NoError(t, tx.CreateSegment(ctx, seg(id)))
		}
		_, err := tx.Record(ctx, []segment.Change{
			change("a", "profiles/p1", segment.Entered, t0, "1"),
			change("b", "profiles/p1", segment.Entered, t0, "2"),
			change("a", "profiles/p2", segment.Entered, t0, "3"),
			change("a", "profiles/p1", segment.Exited, t0, "4"),
			change("b", "profiles/p2", segment.Entered, t0, "5"),
		})
		require.NoError(t, err)
	})
	seqs := func(seg, profile string, after int64, limit int) []int64 {
		got, err := s.ListChanges(ctx, seg, profile, after, limit)
		require.NoError(t, err)
		var out []int64
		for _, c := range got {
			require.True(t, seg == "" || c.Segment == seg)
			require.True(t, profile == "" || c.Profile == profile)
			out = append(out, c.Seq)
		}
		return out
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5}, seqs("", "", 0, 10))
	require.Equal(t, []int64{1, 3, 4}, seqs("a", "", 0, 10))
	require.Equal(t, []int64{1, 2, 4}, seqs("", "profiles/p1", 0, 10))
	require.Equal(t, []int64{1, 4}, seqs("a", "profiles/p1", 0, 10))
	require.Equal(t, []int64{4}, seqs("a", "profiles/p1", 1, 10))
	require.Equal(t, []int64{3}, seqs("a", "", 1, 1))
	require.Empty(t, seqs("b", "profiles/p3", 0, 10))
	require.Empty(t, seqs("", "", 5, 10))

	got, err := s.ListChanges(ctx, "a", "profiles/p1", 3, 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, segment.Exited, got[0].Kind)
	require.Equal(t, "4", got[0].Reason)
	require.Equal(t, int64(1), got[0].Revision)
	require.True(t, t0.Equal(got[0].Time))
}
