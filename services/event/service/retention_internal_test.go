package service

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

func TestRetentionJob(t *testing.T) {
	env := func(age, mode string) app.Env {
		return app.Env{Logger: slog.New(slog.DiscardHandler), Flags: map[string]string{RetentionFlag: age, RetentionModeFlag: mode}}
	}
	store := memory.New()
	_, err := retentionJob(env("400x", ""), store)
	require.ErrorContains(t, err, "--retention")
	_, err = retentionJob(env("400d", "shred"), store)
	require.ErrorContains(t, err, `retention mode "shred"`)

	ctx, cancel := context.WithCancel(context.Background())
	_, err = store.Append(ctx, []event.Event{
		{MessageID: "old", ProfileID: "p1", Type: event.TypeTrack, Name: "Viewed", ReceivedAt: time.Now().Add(-48 * time.Hour)},
		{MessageID: "new", ProfileID: "p1", Type: event.TypeTrack, Name: "Viewed", ReceivedAt: time.Now()},
	})
	require.NoError(t, err)
	job, err := retentionJob(env("24h", "delete"), store)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job(ctx) }()
	require.Eventually(t, func() bool {
		found, err := store.ByMessageIDs(ctx, []string{"old", "new"})
		return err == nil && len(found) == 1
	}, 10*time.Second, 10*time.Millisecond, "the job applies the policy when it starts")
	cancel()
	require.NoError(t, <-done)
}
