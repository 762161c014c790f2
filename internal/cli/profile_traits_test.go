package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcclient"
)

// TestProfileTraitsCommands sends identify calls through the event service
// and checks that the CLI shows each trait's source and the history, with
// $set_once keeping the first value.
func TestProfileTraitsCommands(t *testing.T) {
	addr := startPrivacySuite(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}
	conn, err := grpcclient.Dial(addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	identify := func(messageID string, traits map[string]any) {
		t.Helper()
		s, err := structpb.NewStruct(traits)
		require.NoError(t, err)
		resp, err := eventv1.NewEventServiceClient(conn).IngestEvents(context.Background(), &eventv1.IngestEventsRequest{Events: []*eventv1.Event{{
			MessageId: messageID, Type: eventv1.EventType_EVENT_TYPE_IDENTIFY,
			Identifiers: []*typev1.Identifier{{Type: "email", Value: "ana@example.com"}}, Traits: s,
		}}})
		require.NoError(t, err)
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus(), resp.GetResults()[0].GetError())
	}
	identify("id-1", map[string]any{"plan": "gold", "$set_once": map[string]any{"first_channel": "web"}})
	identify("id-2", map[string]any{"plan": "platinum", "$set_once": map[string]any{"first_channel": "app"}})

	code, out, stderr := run("profile", "get", "email:ana@example.com")
	require.Zero(t, code, stderr)
	require.Regexp(t, `"first_channel":\s?"web",\s?"plan":\s?"platinum"`, out)
	require.Regexp(t, `TRAIT first_channel\s+set_once \S+, event id-1\n`, out)
	require.Regexp(t, `TRAIT plan\s+set \S+, event id-2\n`, out)

	code, out, stderr = run("profile", "traits", "email:ana@example.com")
	require.Zero(t, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Regexp(t, `^TIME\s+TRAIT\s+OPERATION\s+VALUE\s+EVENT\s+PROFILE$`, lines[0])
	require.Regexp(t, `plan\s+set\s+"platinum"\s+id-2\s+profiles/`, lines[1])
	require.Regexp(t, `plan\s+set\s+"gold"\s+id-1\s+profiles/`, lines[2])
	require.Regexp(t, `first_channel\s+set_once\s+"web"\s+id-1\s+profiles/`, lines[3])

	code, out, stderr = run("-o", "json", "profile", "traits", "email:ana@example.com", "--trait", "first_channel")
	require.Zero(t, code, stderr)
	var doc struct {
		TraitChanges []struct {
			Key, Operation, SourceEvent string
		} `json:"traitChanges"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	require.Len(t, doc.TraitChanges, 1)
	require.Equal(t, "id-1", doc.TraitChanges[0].SourceEvent)

	code, out, stderr = run("profile", "export", "email:ana@example.com")
	require.Zero(t, code, stderr)
	var export struct {
		Profile struct {
			TraitChanges []any `json:"traitChanges"`
		} `json:"profile"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &export), out)
	require.Len(t, export.Profile.TraitChanges, 3, "the export holds the trait history")

	code, _, stderr = run("profile", "traits", "email:nobody@example.com")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound")
}
