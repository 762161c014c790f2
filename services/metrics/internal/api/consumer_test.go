package api_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/api"
	"github.com/barista-cdp/barista/services/metrics/internal/memory"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

func membershipChange(cursor, segment string, kind segmentv1.MembershipChange_Kind) *segmentv1.MembershipChange {
	return &segmentv1.MembershipChange{Cursor: cursor, Segment: segment, Profile: "profiles/p" + cursor, Kind: kind, ChangeTime: timestamppb.New(t0)}
}

// TestConsumerPassesOverChangesItCannotCount checks that a change the
// service cannot interpret neither stalls the feed nor counts, and that an
// unusable cursor stops the batch before anything is written.
func TestConsumerPassesOverChangesItCannotCount(t *testing.T) {
	ctx := context.Background()
	tracker := metrics.NewTracker(memory.New(), nil)
	consumer := api.Consumer(tracker, nil, slog.New(slog.DiscardHandler))

	noTime := membershipChange("4", "segments/buyers", segmentv1.MembershipChange_KIND_ENTERED)
	noTime.ChangeTime = nil
	require.NoError(t, consumer.Apply(ctx, &segmentv1.WatchMembershipChangesResponse{Changes: []*segmentv1.MembershipChange{
		membershipChange("1", "segments/buyers", segmentv1.MembershipChange_KIND_ENTERED),
		membershipChange("2", "segments/buyers", segmentv1.MembershipChange_KIND_UNSPECIFIED),
		membershipChange("3", "buyers", segmentv1.MembershipChange_KIND_ENTERED),
		noTime,
		membershipChange("5", "segments/buyers", segmentv1.MembershipChange_KIND_EXITED),
		membershipChange("6", "segments/buyers", segmentv1.MembershipChange_Kind(9)),
	}}))
	cursor, err := consumer.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, cursor, "changes passed over still move the cursor")
	m, err := tracker.SegmentMetrics(ctx, "buyers")
	require.NoError(t, err)
	require.EqualValues(t, 1, m.EnteredTotal)
	require.EqualValues(t, 1, m.ExitedTotal)

	for _, bad := range []string{"", "0", "x7", "-8"} {
		err := consumer.Apply(ctx, &segmentv1.WatchMembershipChangesResponse{Changes: []*segmentv1.MembershipChange{
			membershipChange("7", "segments/buyers", segmentv1.MembershipChange_KIND_ENTERED),
			membershipChange(bad, "segments/buyers", segmentv1.MembershipChange_KIND_ENTERED),
		}})
		require.ErrorContains(t, err, "not a position in the feed", "cursor %q", bad)
	}
	cursor, err = consumer.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, cursor, "a batch with an unusable cursor writes nothing")
}
