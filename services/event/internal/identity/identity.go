// Package identity resolves event identifiers to profiles through the
// profile service's gRPC API, translating its statuses into the event
// domain's errors.
package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

// ProfilePrefix starts every profile resource name.
const ProfilePrefix = "profiles/"

// Client implements event.Resolver with a profile service client.
type Client struct {
	profiles profilev1.ProfileServiceClient
}

var _ event.Resolver = (*Client)(nil)

// New returns a Client calling profiles.
func New(profiles profilev1.ProfileServiceClient) *Client {
	return &Client{profiles: profiles}
}

// Resolve implements event.Resolver with ResolveProfile. The $set_once
// object of traits goes to traits_set_once, as in ResolveBatch; the event's
// context and message id come from ctx (event.WithEvent).
func (c *Client) Resolve(ctx context.Context, ids []event.Identifier, traits json.RawMessage, at time.Time) (string, error) {
	req, err := resolveRequest(event.Resolution{Identifiers: ids, Traits: traits, At: at, Source: event.EventSource(ctx)})
	if err != nil {
		return "", err
	}
	req.Signals = matchSignals(event.EventContext(ctx))
	resp, err := c.profiles.ResolveProfile(ctx, req)
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.InvalidArgument {
			return "", apierror.Invalid(eventField(st), "%s", st.Message())
		}
		return "", fmt.Errorf("resolve profile: %w", err)
	}
	return profileID(resp.GetProfile().GetName())
}

// Lookup implements event.Resolver with LookupProfile.
func (c *Client) Lookup(ctx context.Context, id event.Identifier) (string, error) {
	resp, err := c.profiles.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: &typev1.Identifier{Type: id.Type, Value: id.Value}})
	if err != nil {
		switch st := status.Convert(err); st.Code() {
		case codes.NotFound:
			return "", fmt.Errorf("%w: no profile holds identifier %s", event.ErrProfileNotFound, id)
		case codes.InvalidArgument:
			return "", apierror.Invalid("identifier", "%s", st.Message())
		case codes.Canceled, codes.DeadlineExceeded:
			return "", err
		default:
			return "", fmt.Errorf("%w; retry the call", event.ErrProfileUnavailable)
		}
	}
	return profileID(resp.GetProfile().GetName())
}

// ProfileID returns the {profile} of a resource name "profiles/{profile}".
func ProfileID(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, ProfilePrefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

func profileID(name string) (string, error) {
	id, ok := ProfileID(name)
	if !ok {
		return "", fmt.Errorf("profile service returned the profile name %q", name)
	}
	return id, nil
}

func toProto(ids []event.Identifier) []*typev1.Identifier {
	out := make([]*typev1.Identifier, len(ids))
	for i, id := range ids {
		out[i] = &typev1.Identifier{Type: id.Type, Value: id.Value}
	}
	return out
}

// eventField maps the field of a ResolveProfileRequest that the profile
// service named in its BadRequest detail to the event field it came from.
func eventField(st *status.Status) string {
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok || len(br.GetFieldViolations()) == 0 {
			continue
		}
		field := br.GetFieldViolations()[0].GetField()
		switch {
		case field == "identifiers" || strings.HasPrefix(field, "identifiers[") || strings.HasPrefix(field, "identifiers."):
			return field
		case field == "traits" || strings.HasPrefix(field, "traits."):
			return field
		case field == "observe_time":
			return "timestamp"
		}
	}
	return ""
}
