package service

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

// Retention flags (or the environment variables BARISTA_EVENT_RETENTION and
// BARISTA_EVENT_RETENTION_MODE).
const (
	// RetentionFlag is how long events are kept: days such as "400d", a Go
	// duration such as "72h", or "0" (the default) to keep them forever.
	RetentionFlag = "retention"
	// RetentionModeFlag is "delete" (the default) or "anonymize".
	RetentionModeFlag = "retention-mode"
)

// retentionJob returns the background job applying the retention policy of
// env's flags every event.RetentionInterval.
func retentionJob(env app.Env, store event.Store) (func(context.Context) error, error) {
	r, err := event.ParseRetention(env.Flags[RetentionFlag], env.Flags[RetentionModeFlag])
	if err != nil {
		return nil, fmt.Errorf("--%s, --%s: %w", RetentionFlag, RetentionModeFlag, err)
	}
	rs, ok := store.(event.RetentionStore)
	if !ok {
		return nil, fmt.Errorf("the event store %T cannot apply a retention policy", store)
	}
	return func(ctx context.Context) error {
		return event.RunRetention(ctx, rs, r, event.RetentionInterval, env.Logger)
	}, nil
}

// runAll runs jobs until ctx ends or one of them fails.
func runAll(ctx context.Context, jobs ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, job := range jobs {
		g.Go(func() error { return job(ctx) })
	}
	return g.Wait()
}
