package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/postgres"
	"github.com/barista-cdp/barista/services/event/internal/storetest"
	"github.com/barista-cdp/barista/services/event/migrations"
)

func TestRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T) storetest.RetentionStore {
		return postgres.New(pgtest.NewPool(t, "event", migrations.FS))
	})
}

// TestRetentionDropsPartitions checks that months received entirely before
// the cutoff go as whole partitions, and the month the cutoff falls in
// stays.
func TestRetentionDropsPartitions(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t, "event", migrations.FS)
	s := postgres.New(pool)
	now := time.Now().UTC()
	old := now.AddDate(0, -5, 0)
	cutoffMonth := now.Add(-40 * 24 * time.Hour)
	var batch []event.Event
	for i, at := range []time.Time{old, cutoffMonth, now} {
		batch = append(batch, event.Event{
			MessageID: string(rune('a' + i)), ProfileID: "p1", Type: event.TypeTrack, Name: "Viewed",
			Identifiers: []event.Identifier{{Type: "user_id", Value: "p1"}},
			OccurredAt:  at.Truncate(time.Microsecond), ReceivedAt: at.Truncate(time.Microsecond),
		})
	}
	_, err := s.Append(ctx, batch)
	require.NoError(t, err)
	exists := func(at time.Time) bool {
		var name *string
		require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1)::text", partitionName(at)).Scan(&name))
		return name != nil
	}
	require.True(t, exists(old))

	res, err := event.ApplyRetention(ctx, s, event.Retention{MaxAge: 40 * 24 * time.Hour, Mode: event.RetentionDelete}, now.Add(time.Minute))
	require.NoError(t, err)
	require.Contains(t, res.DroppedPartitions, partitionName(old)[len("event."):])
	require.False(t, exists(old), "a month entirely before the cutoff is dropped")
	require.True(t, exists(cutoffMonth), "the month the cutoff falls in stays")
	require.Equal(t, int64(2), res.Deleted)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM event.message_ids").Scan(&n))
	require.Equal(t, 1, n)
}
