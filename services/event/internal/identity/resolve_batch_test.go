package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/identity"
)

// batchProfiles answers ResolveProfiles by the first identifier's value:
// "bad" is bad input, "down" fails, anything else is the profile of that
// name. It records the size of every call.
type batchProfiles struct {
	profilev1.UnimplementedProfileServiceServer
	calls []int
	first []*profilev1.ResolveProfileRequest
}

func (b *batchProfiles) ResolveProfiles(_ context.Context, req *profilev1.ResolveProfilesRequest) (*profilev1.ResolveProfilesResponse, error) {
	b.calls = append(b.calls, len(req.GetRequests()))
	b.first = append(b.first, req.GetRequests()[0])
	resp := &profilev1.ResolveProfilesResponse{}
	for _, r := range req.GetRequests() {
		var res *profilev1.ResolveProfilesResult
		switch v := r.GetIdentifiers()[0].GetValue(); v {
		case "bad", "down":
			var err error = apierror.Invalid("identifiers[0]", "user_id %s is blocked", v)
			if v == "down" {
				err = fmt.Errorf("store: %w", apierror.ErrUnavailable)
			}
			res = errorResult(err)
		default:
			res = &profilev1.ResolveProfilesResult{Result: &profilev1.ResolveProfilesResult_Response{
				Response: &profilev1.ResolveProfileResponse{Profile: &profilev1.Profile{Name: "profiles/" + v}},
			}}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// errorResult encodes err as the profile service does.
func errorResult(err error) *profilev1.ResolveProfilesResult {
	mapped, _ := apierror.ToStatus(err)
	st := statusProto(mapped)
	return &profilev1.ResolveProfilesResult{Result: &profilev1.ResolveProfilesResult_Error{Error: &profilev1.ResultStatus{
		Code: st.GetCode(), Message: st.GetMessage(), Details: st.GetDetails(),
	}}}
}

func request(value string) event.Resolution {
	return event.Resolution{Identifiers: []event.Identifier{{Type: "user_id", Value: value}}, At: time.Now()}
}

func TestResolveBatch(t *testing.T) {
	fake := &batchProfiles{}
	conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { profilev1.RegisterProfileServiceServer(r, fake) })
	client := identity.New(profilev1.NewProfileServiceClient(conn))

	reqs := []event.Resolution{request("p1"), request("bad"), request("down")}
	reqs[0].Traits = json.RawMessage(`{"plan":"gold"}`)
	reqs[0].Context = json.RawMessage(`{"ip":"203.0.113.9"}`)
	out, err := client.ResolveBatch(context.Background(), reqs)
	require.NoError(t, err)
	require.Len(t, out, 3)
	require.Equal(t, event.Resolved{ProfileID: "p1"}, out[0])
	require.Equal(t, "gold", fake.first[0].GetTraits().GetFields()["plan"].GetStringValue())
	require.Equal(t, "203.0.113.9", fake.first[0].GetSignals().GetIp())
	var invalid *apierror.InvalidError
	require.ErrorAs(t, out[1].Err, &invalid, "bad input is the event's fault")
	require.Equal(t, "identifiers[0]", invalid.Violations[0].Field)
	require.Error(t, out[2].Err)
	require.NotErrorAs(t, out[2].Err, &invalid, "a failure is not the event's fault")

	// Larger batches are split at the profile service's limit, in order.
	fake.calls = nil
	many := make([]event.Resolution, identity.MaxBatch+1)
	for i := range many {
		many[i] = request(fmt.Sprint("p", i))
	}
	out, err = client.ResolveBatch(context.Background(), many)
	require.NoError(t, err)
	require.Equal(t, []int{identity.MaxBatch, 1}, fake.calls)
	require.Equal(t, fmt.Sprint("p", identity.MaxBatch), out[identity.MaxBatch].ProfileID)
}

// TestResolveBatchUnsupported checks that a profile service that predates
// ResolveProfiles (one that answers Unimplemented) makes the client say so,
// so that the log falls back to one call per event.
func TestResolveBatchUnsupported(t *testing.T) {
	conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) {
		profilev1.RegisterProfileServiceServer(r, profilev1.UnimplementedProfileServiceServer{})
	})
	_, err := identity.New(profilev1.NewProfileServiceClient(conn)).ResolveBatch(context.Background(), []event.Resolution{request("p1")})
	require.ErrorIs(t, err, event.ErrBatchUnsupported)
}

func statusProto(err error) *spb.Status { return status.Convert(err).Proto() }

// TestResolveBatchSetOnce checks that a request carries its event's message
// id as the source, and that the $set_once object of identify traits goes
// to traits_set_once and out of traits.
func TestResolveBatchSetOnce(t *testing.T) {
	fake := &batchProfiles{}
	conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { profilev1.RegisterProfileServiceServer(r, fake) })
	client := identity.New(profilev1.NewProfileServiceClient(conn))
	for _, tt := range []struct {
		name, traits string
		set, once    map[string]any
	}{
		{"both", `{"plan":"gold","$set_once":{"first_channel":"web"}}`, map[string]any{"plan": "gold"}, map[string]any{"first_channel": "web"}},
		{"only set-once", `{"$set_once":{"first_channel":"web"}}`, nil, map[string]any{"first_channel": "web"}},
		{"no set-once", `{"plan":"gold"}`, map[string]any{"plan": "gold"}, nil},
		{"not an object", `{"$set_once":"web"}`, map[string]any{"$set_once": "web"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake.first = nil
			req := request("p1")
			req.Traits, req.Source = json.RawMessage(tt.traits), "msg-1"
			_, err := client.ResolveBatch(context.Background(), []event.Resolution{req})
			require.NoError(t, err)
			got := fake.first[0]
			require.Equal(t, "msg-1", got.GetSourceEvent())
			if tt.set == nil {
				require.Nil(t, got.GetTraits())
			} else {
				require.Equal(t, tt.set, got.GetTraits().AsMap())
			}
			if tt.once == nil {
				require.Nil(t, got.GetTraitsSetOnce())
			} else {
				require.Equal(t, tt.once, got.GetTraitsSetOnce().AsMap())
			}
		})
	}
}
