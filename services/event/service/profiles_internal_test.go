package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

// countingResolver resolves every identifier set to "p-" + its first
// value, counting the calls.
type countingResolver struct{ calls int }

func (r *countingResolver) Resolve(_ context.Context, ids []event.Identifier, _ json.RawMessage, _ time.Time) (string, error) {
	r.calls++
	return "p-" + ids[0].Value, nil
}

func (r *countingResolver) Lookup(context.Context, event.Identifier) (string, error) {
	return "", event.ErrProfileNotFound
}

// streamOpener is a ProfileServiceClient whose change stream opens empty.
type streamOpener struct {
	profilev1.ProfileServiceClient
	opened int
}

func (s *streamOpener) StreamProfileChanges(context.Context, *profilev1.StreamProfileChangesRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[profilev1.StreamProfileChangesResponse], error) {
	s.opened++
	return nil, nil
}

// TestProfileConsumerClearsResolutionsWhenItConnects checks that the
// resolution cache is dropped whenever the profile change stream is
// (re)opened: changes another replica applied meanwhile send this one no
// notice.
func TestProfileConsumerClearsResolutionsWhenItConnects(t *testing.T) {
	ctx := context.Background()
	r := &countingResolver{}
	log := event.NewLog(memory.New(), r, nil, event.WithResolveCache(time.Minute, 10, nil))
	ingest := func(id string) {
		_, err := log.Ingest(ctx, []event.Event{{MessageID: id, Type: event.TypeTrack, Name: "E",
			Identifiers: []event.Identifier{{Type: "user_id", Value: "u"}}, OccurredAt: time.Now(), ReceivedAt: time.Now()}})
		require.NoError(t, err)
	}
	ingest("m1")
	ingest("m2")
	require.Equal(t, 1, r.calls, "the second event's resolution is cached")

	profiles := &streamOpener{}
	_, err := profileConsumer(log, profiles, slog.New(slog.DiscardHandler)).Open(ctx, "")
	require.NoError(t, err)
	require.Equal(t, 1, profiles.opened)
	ingest("m3")
	require.Equal(t, 2, r.calls, "after the stream is opened, the visitor is resolved again")
}
