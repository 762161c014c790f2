package identity

import (
	"context"
	"fmt"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

// MaxBatch is the most resolutions one ResolveProfiles call carries, the
// profile service's limit; ResolveBatch splits larger batches.
const MaxBatch = 1000

var _ event.BatchResolver = (*Client)(nil)

// ResolveBatch implements event.BatchResolver with ResolveProfiles, one
// call per MaxBatch requests, in order.
func (c *Client) ResolveBatch(ctx context.Context, reqs []event.Resolution) ([]event.Resolved, error) {
	out := make([]event.Resolved, 0, len(reqs))
	for start := 0; start < len(reqs); start += MaxBatch {
		chunk := reqs[start:min(start+MaxBatch, len(reqs))]
		req := &profilev1.ResolveProfilesRequest{Requests: make([]*profilev1.ResolveProfileRequest, len(chunk))}
		for k, r := range chunk {
			var err error
			if req.Requests[k], err = resolveRequest(r); err != nil {
				return nil, err
			}
		}
		resp, err := c.profiles.ResolveProfiles(ctx, req)
		if err != nil {
			if status.Code(err) == codes.Unimplemented {
				return nil, event.ErrBatchUnsupported
			}
			return nil, fmt.Errorf("resolve profiles: %w", err)
		}
		if len(resp.GetResults()) != len(chunk) {
			return nil, fmt.Errorf("resolve profiles: %d results for %d requests", len(resp.GetResults()), len(chunk))
		}
		for _, r := range resp.GetResults() {
			out = append(out, resolved(r))
		}
	}
	return out, nil
}

// resolved translates one result of ResolveProfiles as Resolve translates
// the answer of ResolveProfile.
func resolved(r *profilev1.ResolveProfilesResult) event.Resolved {
	if e := r.GetError(); e != nil {
		st := status.FromProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()})
		if st.Code() == codes.InvalidArgument {
			return event.Resolved{Err: apierror.Invalid(eventField(st), "%s", st.Message())}
		}
		return event.Resolved{Err: fmt.Errorf("resolve profile: %w", st.Err())}
	}
	id, err := profileID(r.GetResponse().GetProfile().GetName())
	out := event.Resolved{ProfileID: id, Err: err}
	for _, ig := range r.GetResponse().GetIgnoredIdentifiers() {
		if ig.GetRule() == "suppressed" {
			out.Suppressed = append(out.Suppressed, event.Identifier{Type: ig.GetIdentifier().GetType(), Value: ig.GetIdentifier().GetValue()})
		}
	}
	return out
}

// SetOnceKey is the trait of an identify call whose object holds traits to
// set only where the profile has none yet (the PostHog and Mixpanel
// convention); they go to traits_set_once.
const SetOnceKey = "$set_once"

// resolveRequest is the ResolveProfileRequest of r.
func resolveRequest(r event.Resolution) (*profilev1.ResolveProfileRequest, error) {
	req := &profilev1.ResolveProfileRequest{
		Identifiers: toProto(r.Identifiers), ObserveTime: timestamppb.New(r.At), Signals: matchSignals(r.Context), SourceEvent: r.Source,
	}
	if len(r.Traits) > 0 {
		req.Traits = &structpb.Struct{}
		if err := protojson.Unmarshal(r.Traits, req.Traits); err != nil {
			return nil, fmt.Errorf("decode stored traits: %w", err)
		}
		req.Traits, req.TraitsSetOnce = splitSetOnce(req.Traits)
	}
	return req, nil
}

// splitSetOnce takes the object under SetOnceKey out of traits and returns
// what is left (nil when nothing is) and that object. A SetOnceKey that is
// not an object stays an ordinary trait.
func splitSetOnce(traits *structpb.Struct) (set, once *structpb.Struct) {
	v, ok := traits.GetFields()[SetOnceKey]
	if !ok || v.GetStructValue() == nil {
		return traits, nil
	}
	delete(traits.Fields, SetOnceKey)
	if len(traits.GetFields()) == 0 {
		traits = nil
	}
	return traits, v.GetStructValue()
}
