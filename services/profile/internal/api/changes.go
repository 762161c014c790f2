package api

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/feed"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// Batch sizes of StreamProfileChanges: the default and the maximum number
// of changes per message.
const (
	DefaultChangeBatch = 500
	MaxChangeBatch     = 1000
)

// StreamProfileChanges sends the change log after the request's cursor and
// then follows it, polling for new changes (they are rare next to events).
func (s *Server) StreamProfileChanges(req *profilev1.StreamProfileChangesRequest, stream profilev1.ProfileService_StreamProfileChangesServer) error {
	after, err := feed.DecodeCursor("after_cursor", req.GetAfterCursor())
	if err != nil {
		return err
	}
	batch, err := feed.BatchSize(req.GetMaxBatchSize(), DefaultChangeBatch, MaxChangeBatch)
	if err != nil {
		return err
	}
	read := func(ctx context.Context, after int64) ([]profile.Notice, int64, error) {
		notices, err := s.graph.Notices(ctx, after, batch)
		if err != nil || len(notices) == 0 {
			return nil, after, err
		}
		return notices, notices[len(notices)-1].Seq, nil
	}
	send := func(notices []profile.Notice) error {
		resp := &profilev1.StreamProfileChangesResponse{Changes: make([]*profilev1.ProfileChange, len(notices))}
		for i, n := range notices {
			resp.Changes[i] = toChange(n)
		}
		return stream.Send(resp)
	}
	return feed.Tail(stream.Context(), after, nil, read, send)
}

// toChange is the proto form of n.
func toChange(n profile.Notice) *profilev1.ProfileChange {
	c := &profilev1.ProfileChange{Cursor: feed.EncodeCursor(n.Seq), ChangeTime: timestamppb.New(n.Time)}
	switch n.Kind {
	case profile.NoticeMerged:
		c.Change = &profilev1.ProfileChange_Merged{Merged: &profilev1.ProfileMerged{
			Survivor: namePrefix + n.Profile, MergedProfile: namePrefix + n.Other,
			Identifiers: toIdentifiers(n.Identifiers), Rule: n.Rule,
		}}
	case profile.NoticeUnmerged:
		c.Change = &profilev1.ProfileChange_Unmerged{Unmerged: &profilev1.ProfileUnmerged{
			Profile: namePrefix + n.Other, Survivor: namePrefix + n.Profile,
			Identifiers: toIdentifiers(n.Identifiers), SurvivorIdentifiers: toIdentifiers(n.Kept),
		}}
	case profile.NoticeConsent:
		c.Change = &profilev1.ProfileChange_ConsentChanged{ConsentChanged: &profilev1.ConsentChanged{
			Profile: namePrefix + n.Profile, Consents: toConsents(n.Consents),
		}}
	case profile.NoticeErased:
		c.Change = &profilev1.ProfileChange_Erased{Erased: &profilev1.ProfileErased{Profile: namePrefix + n.Profile}}
	}
	return c
}
