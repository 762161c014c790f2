package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// MaxReasonLen is the longest reason accepted for a manual merge, in bytes.
const MaxReasonLen = 1000

// MaxRulesBytes is the largest rules text PreviewMergeRules accepts.
const MaxRulesBytes = 1 << 20

// maxSample bounds the profiles PreviewMergeRules names.
const maxSample = 100

// GetMergeRules returns the active merge rules.
func (s *Server) GetMergeRules(context.Context, *profilev1.GetMergeRulesRequest) (*profilev1.GetMergeRulesResponse, error) {
	return &profilev1.GetMergeRulesResponse{Rules: toRules(s.graph.Policy())}, nil
}

// PreviewMergeRules dry-runs rules over the stored graph.
func (s *Server) PreviewMergeRules(ctx context.Context, req *profilev1.PreviewMergeRulesRequest) (*profilev1.PreviewMergeRulesResponse, error) {
	if n := len(req.GetRules()); n > MaxRulesBytes {
		return nil, apierror.Invalid("rules", "are %d bytes; the limit is %d", n, MaxRulesBytes)
	}
	rules, err := profile.ParseRules([]byte(req.GetRules()))
	if err != nil {
		return nil, apierror.Invalid("rules", "%s", err)
	}
	policy, err := rules.Compile()
	if err != nil {
		return nil, apierror.Invalid("rules", "%s", err)
	}
	preview, err := s.graph.PreviewRules(ctx, policy)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.PreviewMergeRulesResponse{
		Rules:               toRules(policy),
		ProfilesExamined:    int32(preview.Profiles),
		ProfilesToSplit:     int32(len(preview.Split)),
		IdentifiersToUnlink: int32(len(preview.Dropped)),
		MergesToRefuse:      int32(len(preview.RefusedMerges)),
		ProfilesToMerge:     int32(len(preview.Merged)),
		JoinsToMake:         int32(preview.Joins),
	}
	for _, id := range preview.Split[:min(len(preview.Split), maxSample)] {
		resp.SampleProfiles = append(resp.SampleProfiles, namePrefix+id)
	}
	for _, id := range preview.Merged[:min(len(preview.Merged), maxSample)] {
		resp.SampleMergedProfiles = append(resp.SampleMergedProfiles, namePrefix+id)
	}
	return resp, nil
}

func toRules(policy *profile.Policy) *profilev1.MergeRules {
	r := policy.Rules()
	out := &profilev1.MergeRules{
		Priority:    slices.Clone(r.Priority),
		Blocked:     toBlocked(r.Blocked),
		BuiltinJunk: r.BuiltinJunk == nil || *r.BuiltinJunk,
		SharedTypes: slices.Clone(r.SharedTypes),
	}
	for _, l := range r.Limits {
		limit := &profilev1.IdentifierLimit{Type: l.Type, Max: int32(l.Max)}
		if l.Window != 0 {
			limit.Window = durationpb.New(l.Window.Duration())
		}
		out.Limits = append(out.Limits, limit)
	}
	if out.BuiltinJunk {
		for _, v := range profile.JunkValues {
			out.BuiltinBlocked = append(out.BuiltinBlocked, &profilev1.BlockedValue{Value: v})
		}
		out.BuiltinBlocked = append(out.BuiltinBlocked, toBlocked(profile.JunkPatterns)...)
	}
	return out
}

func toBlocked(blocks []profile.Block) []*profilev1.BlockedValue {
	out := make([]*profilev1.BlockedValue, len(blocks))
	for i, b := range blocks {
		out[i] = &profilev1.BlockedValue{Type: b.Type, Pattern: b.Pattern}
		if b.Value != nil {
			out[i].Value = *b.Value
		}
	}
	return out
}

// ListMerges pages through the merges a profile took part in.
func (s *Server) ListMerges(ctx context.Context, req *profilev1.ListMergesRequest) (*profilev1.ListMergesResponse, error) {
	invalid := &apierror.InvalidError{}
	id, err := parseName(req.GetParent())
	if err != nil {
		invalid.Add("parent", "want profiles/{profile}; got %q", req.GetParent())
	}
	size, after := parsePosition(req.GetPageSize(), req.GetPageToken(), invalid)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	merges, next, err := s.graph.ListMerges(ctx, id, after, size)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.ListMergesResponse{Merges: make([]*profilev1.Merge, len(merges))}
	for i, m := range merges {
		resp.Merges[i] = toMerge(m)
	}
	resp.NextPageToken = positionToken(next)
	return resp, nil
}

// MergeProfiles merges the profiles of two identifiers on request.
func (s *Server) MergeProfiles(ctx context.Context, req *profilev1.MergeProfilesRequest) (*profilev1.MergeProfilesResponse, error) {
	invalid := &apierror.InvalidError{}
	var ids []profile.Identifier
	if n := len(req.GetIdentifiers()); n != 2 {
		invalid.Add("identifiers", "want exactly 2 identifiers, one from each profile; got %d", n)
	} else {
		for i, id := range req.GetIdentifiers() {
			norm, err := ident.Normalize(id)
			if err != nil {
				invalid.Add(fmt.Sprintf("identifiers[%d]", i), "%s", err)
				continue
			}
			ids = append(ids, fromIdentifier(norm))
		}
	}
	switch reason := strings.TrimSpace(req.GetReason()); {
	case reason == "":
		invalid.Add("reason", "is required: the merge log records why an operator merged two profiles")
	case len(reason) > MaxReasonLen:
		invalid.Add("reason", "is %d bytes long; the limit is %d", len(reason), MaxReasonLen)
	}
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	p, m, err := s.graph.MergeProfiles(ctx, ids[0], ids[1], strings.TrimSpace(req.GetReason()))
	if err != nil {
		return nil, err
	}
	pb, err := toProto(p)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.MergeProfilesResponse{Profile: pb}
	if m != nil {
		resp.Merge = toMerge(*m)
	}
	return resp, nil
}

// UnmergeProfile splits a merged profile back out.
func (s *Server) UnmergeProfile(ctx context.Context, req *profilev1.UnmergeProfileRequest) (*profilev1.UnmergeProfileResponse, error) {
	id, err := parseName(req.GetName())
	if err != nil {
		return nil, err
	}
	survivor, restored, err := s.graph.Unmerge(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.UnmergeProfileResponse{}
	if resp.Profile, err = toProto(restored); err != nil {
		return nil, err
	}
	if resp.Survivor, err = toProto(survivor); err != nil {
		return nil, err
	}
	return resp, nil
}

func toMerge(m profile.Merge) *profilev1.Merge {
	var unmerged *timestamppb.Timestamp
	if !m.UnmergeTime.IsZero() {
		unmerged = timestamppb.New(m.UnmergeTime)
	}
	return &profilev1.Merge{
		UnmergeTime:        unmerged,
		Survivor:           namePrefix + m.Survivor,
		Merged:             namePrefix + m.Merged,
		Rule:               m.Rule,
		Reason:             m.Reason,
		TriggerIdentifiers: toIdentifiers(m.Trigger),
		Identifiers:        toIdentifiers(m.Identifiers),
		MergeTime:          timestamppb.New(m.Time),
		ObserveTime:        timestamppb.New(m.ObserveTime),
	}
}
