package identity

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

// TestResolveSplitsSetOnce checks that the event-by-event path moves the
// $set_once object of traits to traits_set_once too.
func TestResolveSplitsSetOnce(t *testing.T) {
	rec := &recorder{}
	_, err := New(rec).Resolve(context.Background(), []event.Identifier{{Type: "user_id", Value: "42"}},
		json.RawMessage(`{"plan":"gold","$set_once":{"first_channel":"web"}}`), time.Now())
	require.NoError(t, err)
	require.Equal(t, map[string]any{"plan": "gold"}, rec.got.GetTraits().AsMap())
	require.Equal(t, map[string]any{"first_channel": "web"}, rec.got.GetTraitsSetOnce().AsMap())
	require.Empty(t, rec.got.GetSourceEvent())
}
