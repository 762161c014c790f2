package identity

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

func TestMatchSignals(t *testing.T) {
	for _, tc := range []struct {
		name, context string
		want          *profilev1.MatchSignals
	}{
		{"all", `{"ip":"203.0.113.9","userAgent":"Mobile Safari","device":{"id":"d-1","fingerprint":"fp-1"}}`,
			&profilev1.MatchSignals{Ip: "203.0.113.9", UserAgent: "Mobile Safari", DeviceFingerprint: "fp-1"}},
		{"device id is an identifier, not a signal", `{"device":{"id":"d-1"}}`, nil},
		{"none", `{"locale":"en-GB"}`, nil},
		{"not strings", `{"ip":42,"userAgent":{"a":1}}`, nil},
		{"too long", `{"ip":"` + strings.Repeat("9", event.MaxSignalLen+1) + `","userAgent":"ua"}`, &profilev1.MatchSignals{UserAgent: "ua"}},
		{"absent", ``, nil},
		{"not an object", `[1]`, nil},
	} {
		got := matchSignals(json.RawMessage(tc.context))
		require.True(t, proto.Equal(tc.want, got), "%s: got %v", tc.name, got)
	}
}

// recorder is a ProfileServiceClient that records ResolveProfile requests.
type recorder struct {
	profilev1.ProfileServiceClient
	got *profilev1.ResolveProfileRequest
}

func (r *recorder) ResolveProfile(_ context.Context, req *profilev1.ResolveProfileRequest, _ ...grpc.CallOption) (*profilev1.ResolveProfileResponse, error) {
	r.got = req
	return &profilev1.ResolveProfileResponse{Profile: &profilev1.Profile{Name: "profiles/p1"}}, nil
}

// TestResolveSendsSignals checks that a single resolution carries the
// event's weak matching signals and message id from its context.
func TestResolveSendsSignals(t *testing.T) {
	rec := &recorder{}
	ctx := event.WithEvent(context.Background(), json.RawMessage(`{"ip":"203.0.113.9","userAgent":"UA"}`), "m-1")
	id, err := New(rec).Resolve(ctx, []event.Identifier{{Type: "anonymous_id", Value: "a"}}, nil, time.Now())
	require.NoError(t, err)
	require.Equal(t, "p1", id)
	require.Equal(t, "203.0.113.9", rec.got.GetSignals().GetIp())
	require.Equal(t, "UA", rec.got.GetSignals().GetUserAgent())
	require.Equal(t, "m-1", rec.got.GetSourceEvent(), "the event's message id is the source of its trait changes")

	_, err = New(rec).Resolve(context.Background(), []event.Identifier{{Type: "anonymous_id", Value: "a"}}, nil, time.Now())
	require.NoError(t, err)
	require.Nil(t, rec.got.GetSignals())
}
