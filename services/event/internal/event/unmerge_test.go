package event_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

// unmergeSR splits p-r, which holds r-id, back out of p-s, which keeps s-id.
var unmergeSR = event.ProfileChange{Seq: 2, Kind: event.UpdateUnmerged, Profile: "p-s", Other: "p-r",
	Identifiers: []event.Identifier{{Type: "user_id", Value: "r-id"}}, Kept: []event.Identifier{{Type: "user_id", Value: "s-id"}}}

// toSurvivor resolves every event to p-s, as the profile service did while
// p-r was merged into it.
var toSurvivor = resolverFunc(func(context.Context, []event.Identifier) (string, error) { return "p-s", nil })

func commitOne(t *testing.T, l *event.Log, p *event.Prepared) string {
	t.Helper()
	out, err := l.Commit(context.Background(), p)
	require.NoError(t, err)
	require.Equal(t, event.StatusAccepted, out[0].Status)
	return out[0].Event.ProfileID
}

// TestUnmergeBetweenResolutionAndCommit: an event resolved to the survivor
// before an unmerge was applied, and committed after, is stored under the
// restored profile, as the unmerge would have moved it had it been stored
// before; an event prepared after the unmerge was applied is stored as
// resolved.
func TestUnmergeBetweenResolutionAndCommit(t *testing.T) {
	ctx := context.Background()
	l := event.NewLog(memory.New(), toSurvivor, nil)
	require.NoError(t, l.ApplyProfileChange(ctx, event.ProfileChange{Seq: 1, Kind: event.UpdateMerged, Profile: "p-s", Other: "p-r"}))

	late, err := l.Prepare(ctx, []event.Event{ev("late", "r-id")})
	require.NoError(t, err)
	both, err := l.Prepare(ctx, []event.Event{ev("both", "r-id", "s-id")})
	require.NoError(t, err)
	require.NoError(t, l.ApplyProfileChange(ctx, unmergeSR))
	require.Equal(t, "p-r", commitOne(t, l, late), "resolved before the unmerge, with an identifier moved back")
	require.Equal(t, "p-s", commitOne(t, l, both), "an identifier the survivor kept keeps it there")

	after, err := l.Prepare(ctx, []event.Event{ev("after", "r-id")})
	require.NoError(t, err)
	require.Equal(t, "p-s", commitOne(t, l, after), "resolved after the unmerge was applied")
}

// TestProfileCursorDatesResolutions: a Log started over a store that had
// applied the unmerge learns so from its cursor, and takes resolutions it
// makes after that as reflecting it.
func TestProfileCursorDatesResolutions(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	_, err := store.ApplyProfileChange(ctx, unmergeSR)
	require.NoError(t, err)

	fresh := event.NewLog(store, toSurvivor, nil)
	p, err := fresh.Prepare(ctx, []event.Event{ev("unknown", "r-id")})
	require.NoError(t, err)
	require.Equal(t, "p-r", commitOne(t, fresh, p), "without its cursor, a Log cannot tell when the unmerge was")

	l := event.NewLog(store, toSurvivor, nil)
	cursor, err := l.ProfileCursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, cursor)
	p, err = l.Prepare(ctx, []event.Event{ev("known", "r-id")})
	require.NoError(t, err)
	require.Equal(t, "p-s", commitOne(t, l, p))
}
