package api

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// MaxSignalLen is the longest IP, user agent or device fingerprint kept
// for matching, in bytes.
const MaxSignalLen = 512

const candidatePrefix = "matchCandidates/"

// SetMatcher turns on probabilistic matching: resolves record their
// signals with m, and the review queue methods use it.
func (s *Server) SetMatcher(m *match.Matcher) { s.matcher = m }

// checkSignals validates the signals of a resolve request at field.
func checkSignals(field string, sig *profilev1.MatchSignals) error {
	invalid := &apierror.InvalidError{}
	for name, v := range map[string]string{"ip": sig.GetIp(), "user_agent": sig.GetUserAgent(), "device_fingerprint": sig.GetDeviceFingerprint()} {
		switch {
		case len(v) > MaxSignalLen:
			invalid.Add(field+"."+name, "is %d bytes long; the limit is %d", len(v), MaxSignalLen)
		case !utf8.ValidString(v):
			invalid.Add(field+"."+name, "is not valid UTF-8")
		}
	}
	return invalid.OrNil()
}

// observe records the signals seen with a resolved profile. Matching is
// best effort: a failure to record is logged and does not fail the
// resolve.
func (s *Server) observe(ctx context.Context, res profile.Resolution, sig *profilev1.MatchSignals) {
	if s.matcher == nil {
		return
	}
	o := match.Observation{IP: sig.GetIp(), UserAgent: sig.GetUserAgent(), Fingerprint: sig.GetDeviceFingerprint(), Created: res.Created}
	if err := s.matcher.Observe(ctx, res.Profile, o); err != nil {
		slog.WarnContext(ctx, "recording match signals failed", "profile", res.Profile.ID, "error", err)
	}
}

func (s *Server) requireMatcher() error {
	if s.matcher == nil {
		return fmt.Errorf("probabilistic matching is off on this server: %w", apierror.ErrFailedPrecondition)
	}
	return nil
}

// ListMatchCandidates pages through the review queue.
func (s *Server) ListMatchCandidates(ctx context.Context, req *profilev1.ListMatchCandidatesRequest) (*profilev1.ListMatchCandidatesResponse, error) {
	if err := s.requireMatcher(); err != nil {
		return nil, err
	}
	invalid := &apierror.InvalidError{}
	state, ok := fromState(req.GetState())
	if !ok {
		invalid.Add("state", "unknown state %d", req.GetState())
	}
	size, after := parsePosition(req.GetPageSize(), req.GetPageToken(), invalid)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	cs, next, err := s.matcher.Candidates(ctx, state, after, size)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.ListMatchCandidatesResponse{MatchCandidates: make([]*profilev1.MatchCandidate, len(cs))}
	for i, c := range cs {
		resp.MatchCandidates[i] = toCandidate(c)
	}
	resp.NextPageToken = positionToken(next)
	return resp, nil
}

// ReviewMatchCandidate accepts or rejects a pending candidate.
func (s *Server) ReviewMatchCandidate(ctx context.Context, req *profilev1.ReviewMatchCandidateRequest) (*profilev1.ReviewMatchCandidateResponse, error) {
	if err := s.requireMatcher(); err != nil {
		return nil, err
	}
	invalid := &apierror.InvalidError{}
	raw, ok := strings.CutPrefix(req.GetName(), candidatePrefix)
	id, err := strconv.ParseInt(raw, 10, 64)
	if !ok || err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
		invalid.Add("name", "want matchCandidates/{candidate}, where {candidate} is a positive number; got %q", req.GetName())
	}
	reason := strings.TrimSpace(req.GetReason())
	switch {
	case reason == "":
		invalid.Add("reason", "is required: the review is recorded with why")
	case len(reason) > MaxReasonLen:
		invalid.Add("reason", "is %d bytes long; the limit is %d", len(reason), MaxReasonLen)
	}
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	c, p, m, err := s.matcher.Review(ctx, id, req.GetAccept(), reason)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.ReviewMatchCandidateResponse{MatchCandidate: toCandidate(c)}
	if req.GetAccept() {
		if resp.Profile, err = toProto(p); err != nil {
			return nil, err
		}
	}
	if m != nil {
		resp.Merge = toMerge(*m)
	}
	return resp, nil
}

func fromState(s profilev1.MatchCandidateState) (profile.CandidateState, bool) {
	switch s {
	case profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_UNSPECIFIED:
		return profile.CandidateAny, true
	case profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_PENDING:
		return profile.CandidatePending, true
	case profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_MERGED:
		return profile.CandidateMerged, true
	case profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_ACCEPTED:
		return profile.CandidateAccepted, true
	case profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_REJECTED:
		return profile.CandidateRejected, true
	}
	return profile.CandidateAny, false
}

func toState(s profile.CandidateState) profilev1.MatchCandidateState {
	switch s {
	case profile.CandidatePending:
		return profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_PENDING
	case profile.CandidateMerged:
		return profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_MERGED
	case profile.CandidateAccepted:
		return profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_ACCEPTED
	case profile.CandidateRejected:
		return profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_REJECTED
	}
	return profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_UNSPECIFIED
}

func toCandidate(c profile.Candidate) *profilev1.MatchCandidate {
	out := &profilev1.MatchCandidate{
		Name:         candidatePrefix + strconv.FormatInt(c.ID, 10),
		Profiles:     []string{namePrefix + c.A, namePrefix + c.B},
		Score:        c.Score,
		Agreements:   c.Agreements,
		Conflicts:    c.Conflicts,
		State:        toState(c.State),
		CreateTime:   timestamppb.New(c.CreateTime),
		ReviewReason: c.ReviewReason,
	}
	if !c.ReviewTime.IsZero() {
		out.ReviewTime = timestamppb.New(c.ReviewTime)
	}
	return out
}
