package api

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// ResolveProfiles resolves many identifier sets in one call, as
// ResolveProfile would one after the other, with one result per request.
// A request's error is its own result, with the status ResolveProfile
// would have returned; field names in it are relative to the request. Like
// ResolveProfile, it records each request's match signals.
func (s *Server) ResolveProfiles(ctx context.Context, req *profilev1.ResolveProfilesRequest) (*profilev1.ResolveProfilesResponse, error) {
	switch n := len(req.GetRequests()); {
	case n == 0:
		return nil, apierror.Invalid("requests", "at least one request is required")
	case n > profile.MaxResolveBatch:
		return nil, apierror.Invalid("requests", "at most %d requests can be resolved together, got %d; split the batch", profile.MaxResolveBatch, n)
	}
	results := make([]*profilev1.ResolveProfilesResult, len(req.GetRequests()))
	reqs := make([]profile.Request, 0, len(results))
	at := make([]int, 0, len(results))
	for i, r := range req.GetRequests() {
		pr, err := resolveRequest(r)
		if err == nil {
			err = checkSignals("signals", r.GetSignals())
		}
		if err != nil {
			results[i] = errorResult(ctx, err)
			continue
		}
		reqs = append(reqs, pr)
		at = append(at, i)
	}
	out, err := s.graph.ResolveBatch(ctx, reqs)
	if err != nil {
		return nil, err
	}
	for k, o := range out {
		i := at[k]
		if o.Err != nil {
			results[i] = errorResult(ctx, o.Err)
			continue
		}
		s.observe(ctx, o.Resolution, req.GetRequests()[i].GetSignals())
		resp, err := resolutionProto(o.Resolution)
		if err != nil {
			results[i] = errorResult(ctx, err)
			continue
		}
		results[i] = &profilev1.ResolveProfilesResult{Result: &profilev1.ResolveProfilesResult_Response{Response: resp}}
	}
	return &profilev1.ResolveProfilesResponse{Results: results}, nil
}

// resolutionProto is the ResolveProfileResponse of res.
func resolutionProto(res profile.Resolution) (*profilev1.ResolveProfileResponse, error) {
	p, err := toProto(res.Profile)
	if err != nil {
		return nil, err
	}
	merged := make([]string, len(res.Merged))
	for i, id := range res.Merged {
		merged[i] = namePrefix + id
	}
	ignored := make([]*profilev1.IgnoredIdentifier, len(res.Ignored))
	for i, ig := range res.Ignored {
		ignored[i] = &profilev1.IgnoredIdentifier{Identifier: toIdentifier(ig.Identifier), Rule: ig.Rule, Reason: ig.Reason}
	}
	return &profilev1.ResolveProfileResponse{Profile: p, Created: res.Created, MergedProfiles: merged, IgnoredIdentifiers: ignored}, nil
}

// errorResult is the result of a request that failed with err, mapped to a
// status as the interceptors map a handler's error; faults of no known kind
// are logged here, as they never reach the interceptors.
func errorResult(ctx context.Context, err error) *profilev1.ResolveProfilesResult {
	mapped, fault := apierror.ToStatus(err)
	if fault {
		slog.ErrorContext(ctx, "resolve profiles: request failed", "error", err)
	}
	st := status.Convert(mapped).Proto()
	return &profilev1.ResolveProfilesResult{Result: &profilev1.ResolveProfilesResult_Error{Error: &profilev1.ResultStatus{
		Code: st.GetCode(), Message: st.GetMessage(), Details: st.GetDetails(),
	}}}
}
