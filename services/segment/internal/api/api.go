// Package api serves barista.segment.v1.SegmentService: it validates
// requests, translates between protos and the segment domain, and calls the
// engine. It also turns the event service's stream into domain events for
// the consumer.
package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/feed"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/pkg/page"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// Limits of segment metadata, in characters.
const (
	MaxDisplayName = 256
	MaxDescription = 4096
	MaxAuthor      = 256
	MaxReason      = 1024
)

// Sample sizes of PreviewSegment.
const (
	DefaultSampleSize = 10
	MaxSampleSize     = 100
)

const (
	segmentPrefix  = "segments/"
	profilePrefix  = "profiles/"
	templatePrefix = "segmentTemplates/"
)

// Server implements segmentv1.SegmentServiceServer.
type Server struct {
	segmentv1.UnimplementedSegmentServiceServer
	engine   *segment.Engine
	profiles profilev1.ProfileServiceClient
}

// New returns a Server over engine that looks identifiers up with profiles.
func New(engine *segment.Engine, profiles profilev1.ProfileServiceClient) *Server {
	return &Server{engine: engine, profiles: profiles}
}

// Register adds the SegmentService to s.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	segmentv1.RegisterSegmentServiceServer(r, s)
}

// CreateSegment validates and creates a segment, evaluating every known
// profile against it.
func (s *Server) CreateSegment(ctx context.Context, req *segmentv1.CreateSegmentRequest) (*segmentv1.CreateSegmentResponse, error) {
	invalid := &apierror.InvalidError{}
	if !segment.IDPattern.MatchString(req.GetSegmentId()) {
		invalid.Add("segment_id", "%q is not a segment id: use 1 to 63 lowercase letters, digits and hyphens, starting with a letter, such as \"vip-buyers\"", req.GetSegmentId())
	}
	in := req.GetSegment()
	switch {
	case in == nil:
		invalid.Add("segment", "is required")
	case strings.TrimSpace(in.GetCondition()) == "":
		invalid.Add("segment.condition", "is required: a CEL condition, such as count(\"Order Completed\", \"90d\") >= 1")
	default:
		if _, err := s.engine.Compile(in.GetCondition()); err != nil {
			invalid.Add("segment.condition", "%v", err)
		}
	}
	checkLength(invalid, "segment.display_name", in.GetDisplayName(), MaxDisplayName)
	checkLength(invalid, "segment.description", in.GetDescription(), MaxDescription)
	checkGroup(invalid, in.GetExclusiveGroup(), in.GetPriority())
	checkLength(invalid, "author", req.GetAuthor(), MaxAuthor)
	checkLength(invalid, "reason", req.GetReason(), MaxReason)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	created, err := s.engine.CreateSegment(ctx, segment.Segment{
		ID: req.GetSegmentId(), DisplayName: in.GetDisplayName(), Description: in.GetDescription(), Condition: in.GetCondition(),
		Author: req.GetAuthor(), Reason: req.GetReason(), Group: in.GetExclusiveGroup(), Priority: in.GetPriority(),
	})
	if err != nil {
		return nil, err
	}
	return &segmentv1.CreateSegmentResponse{Segment: segmentProto(created)}, nil
}

// checkGroup adds the violations of an exclusive group and a priority.
func checkGroup(invalid *apierror.InvalidError, group string, priority int32) {
	switch {
	case group != "" && !segment.IDPattern.MatchString(group):
		invalid.Add("segment.exclusive_group", "%q is not a group id: use 1 to 63 lowercase letters, digits and hyphens, starting with a letter, such as \"lifecycle\"", group)
	case group == "" && priority != 0:
		invalid.Add("segment.priority", "is %d without an exclusive group; a priority orders the segments of a group", priority)
	}
}

// checkLength adds a violation when value is longer than limit characters.
func checkLength(invalid *apierror.InvalidError, field, value string, limit int) {
	if n := utf8.RuneCountInString(value); n > limit {
		invalid.Add(field, "is %d characters long; the limit is %d", n, limit)
	}
}

// GetSegment returns a segment, at its current revision or a past one.
func (s *Server) GetSegment(ctx context.Context, req *segmentv1.GetSegmentRequest) (*segmentv1.GetSegmentResponse, error) {
	invalid := &apierror.InvalidError{}
	id, err := parseSegment("name", req.GetName())
	invalid.Merge(err)
	if req.GetRevision() < 0 {
		invalid.Add("revision", "is %d; want a revision number, or 0 for the current revision", req.GetRevision())
	}
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	var seg segment.Segment
	if req.GetRevision() == 0 {
		seg, err = s.engine.GetSegment(ctx, id)
	} else {
		seg, err = s.engine.GetRevision(ctx, id, req.GetRevision())
	}
	if err != nil {
		return nil, err
	}
	return &segmentv1.GetSegmentResponse{Segment: segmentProto(seg)}, nil
}

// updatable are the fields UpdateSegment changes, by update_mask path.
var updatable = []string{"condition", "display_name", "description", "exclusive_group", "priority"}

// UpdateSegment validates an update and stores it as a new revision,
// re-evaluating every profile when the condition changes.
func (s *Server) UpdateSegment(ctx context.Context, req *segmentv1.UpdateSegmentRequest) (*segmentv1.UpdateSegmentResponse, error) {
	invalid := &apierror.InvalidError{}
	in := req.GetSegment()
	var id string
	if in == nil {
		invalid.Add("segment", "is required: the segment's name and the new values")
	} else {
		var err error
		id, err = parseSegment("segment.name", in.GetName())
		invalid.Merge(err)
	}
	u := segment.SegmentUpdate{ID: id, Author: req.GetAuthor(), Reason: req.GetReason()}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		invalid.Add("update_mask", "is required: the fields to update, any of %s", strings.Join(updatable, ", "))
	}
	seen := map[string]bool{}
	for i, path := range paths {
		field := fmt.Sprintf("update_mask.paths[%d]", i)
		switch {
		case seen[path]:
			invalid.Add(field, "%q is listed twice", path)
		case path == "condition":
			switch {
			case strings.TrimSpace(in.GetCondition()) == "":
				invalid.Add("segment.condition", "is required when update_mask has condition: a CEL condition, such as count(\"Order Completed\", \"90d\") >= 1")
			default:
				if _, err := s.engine.Compile(in.GetCondition()); err != nil {
					invalid.Add("segment.condition", "%v", err)
				}
			}
			u.Condition = ptr(in.GetCondition())
		case path == "display_name":
			checkLength(invalid, "segment.display_name", in.GetDisplayName(), MaxDisplayName)
			u.DisplayName = ptr(in.GetDisplayName())
		case path == "description":
			checkLength(invalid, "segment.description", in.GetDescription(), MaxDescription)
			u.Description = ptr(in.GetDescription())
		case path == "exclusive_group":
			if g := in.GetExclusiveGroup(); g != "" && !segment.IDPattern.MatchString(g) {
				checkGroup(invalid, g, 0)
			}
			u.Group = ptr(in.GetExclusiveGroup())
		case path == "priority":
			u.Priority = ptr(in.GetPriority())
		default:
			invalid.Add(field, "%q cannot be updated; the fields that can are %s", path, strings.Join(updatable, ", "))
		}
		seen[path] = true
	}
	if strings.TrimSpace(req.GetAuthor()) == "" {
		invalid.Add("author", "is required: who makes the change, such as an email address")
	}
	if strings.TrimSpace(req.GetReason()) == "" {
		invalid.Add("reason", "is required: why the change is made")
	}
	checkLength(invalid, "author", req.GetAuthor(), MaxAuthor)
	checkLength(invalid, "reason", req.GetReason(), MaxReason)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	updated, err := s.engine.UpdateSegment(ctx, u)
	if err != nil {
		return nil, err
	}
	return &segmentv1.UpdateSegmentResponse{Segment: segmentProto(updated)}, nil
}

func ptr[T any](v T) *T { return &v }

// ArchiveSegment archives a segment: it is no longer evaluated and its
// members exit.
func (s *Server) ArchiveSegment(ctx context.Context, req *segmentv1.ArchiveSegmentRequest) (*segmentv1.ArchiveSegmentResponse, error) {
	invalid := &apierror.InvalidError{}
	id, err := parseSegment("name", req.GetName())
	invalid.Merge(err)
	if strings.TrimSpace(req.GetAuthor()) == "" {
		invalid.Add("author", "is required: who archives the segment, such as an email address")
	}
	if strings.TrimSpace(req.GetReason()) == "" {
		invalid.Add("reason", "is required: why the segment is archived")
	}
	checkLength(invalid, "author", req.GetAuthor(), MaxAuthor)
	checkLength(invalid, "reason", req.GetReason(), MaxReason)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	archived, err := s.engine.ArchiveSegment(ctx, id, req.GetAuthor(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &segmentv1.ArchiveSegmentResponse{Segment: segmentProto(archived)}, nil
}

// ListSegmentRevisions returns a page of a segment's revisions, newest
// first.
func (s *Server) ListSegmentRevisions(ctx context.Context, req *segmentv1.ListSegmentRevisionsRequest) (*segmentv1.ListSegmentRevisionsResponse, error) {
	invalid := &apierror.InvalidError{}
	id, err := parseSegment("segment", req.GetSegment())
	invalid.Merge(err)
	var before int64
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &before)
	invalid.Merge(err)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	revs, err := s.engine.ListRevisions(ctx, id, before, size+1)
	if err != nil {
		return nil, err
	}
	resp := &segmentv1.ListSegmentRevisionsResponse{}
	revs, resp.NextPageToken = page.Trim(revs, size, func(x segment.Segment) any { return x.Revision })
	for _, r := range revs {
		resp.Revisions = append(resp.Revisions, segmentProto(r))
	}
	return resp, nil
}

// PreviewSegment evaluates a condition against every profile without
// saving anything.
func (s *Server) PreviewSegment(ctx context.Context, req *segmentv1.PreviewSegmentRequest) (*segmentv1.PreviewSegmentResponse, error) {
	invalid := &apierror.InvalidError{}
	if strings.TrimSpace(req.GetCondition()) == "" {
		invalid.Add("condition", "is required: a CEL condition, such as count(\"Order Completed\", \"90d\") >= 1")
	} else if _, err := s.engine.Compile(req.GetCondition()); err != nil {
		invalid.Add("condition", "%v", err)
	}
	sample := int(req.GetSampleSize())
	switch {
	case sample == 0:
		sample = DefaultSampleSize
	case sample < 0 || sample > MaxSampleSize:
		invalid.Add("sample_size", "is %d; want 0 to %d (0 for %d)", sample, MaxSampleSize, DefaultSampleSize)
	}
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	p, err := s.engine.PreviewSegment(ctx, req.GetCondition(), sample)
	if err != nil {
		return nil, err
	}
	return &segmentv1.PreviewSegmentResponse{Size: p.Size, TotalProfiles: p.Total, Share: p.Share(), SampleProfiles: p.Sample}, nil
}

// ListSegments returns a page of segments by id.
func (s *Server) ListSegments(ctx context.Context, req *segmentv1.ListSegmentsRequest) (*segmentv1.ListSegmentsResponse, error) {
	var after string
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &after)
	if err != nil {
		return nil, err
	}
	segs, err := s.engine.ListSegments(ctx, after, size+1, req.GetShowArchived())
	if err != nil {
		return nil, err
	}
	resp := &segmentv1.ListSegmentsResponse{}
	segs, resp.NextPageToken = page.Trim(segs, size, func(x segment.Segment) any { return x.ID })
	for _, seg := range segs {
		resp.Segments = append(resp.Segments, segmentProto(seg))
	}
	return resp, nil
}

// ListSegmentMembers returns a page of a segment's members by profile.
func (s *Server) ListSegmentMembers(ctx context.Context, req *segmentv1.ListSegmentMembersRequest) (*segmentv1.ListSegmentMembersResponse, error) {
	invalid := &apierror.InvalidError{}
	id, err := parseSegment("segment", req.GetSegment())
	invalid.Merge(err)
	var after string
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &after)
	invalid.Merge(err)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	members, err := s.engine.ListMembers(ctx, id, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &segmentv1.ListSegmentMembersResponse{}
	members, resp.NextPageToken = page.Trim(members, size, func(x segment.Membership) any { return x.Profile })
	for _, m := range members {
		resp.Memberships = append(resp.Memberships, membershipProto(m))
	}
	return resp, nil
}

// ListProfileMemberships returns the segments a profile, named or found by
// an identifier, is a member of.
func (s *Server) ListProfileMemberships(ctx context.Context, req *segmentv1.ListProfileMembershipsRequest) (*segmentv1.ListProfileMembershipsResponse, error) {
	profile := req.GetProfile()
	switch {
	case profile != "":
		if id, ok := strings.CutPrefix(profile, profilePrefix); !ok || id == "" || strings.Contains(id, "/") {
			return nil, apierror.Invalid("profile", "%q is not a profile name: want profiles/{profile}", profile)
		}
	case req.GetIdentifier() != nil:
		id, err := ident.Normalize(req.GetIdentifier())
		if err != nil {
			return nil, apierror.Invalid("identifier", "%v", err)
		}
		resp, err := s.profiles.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id})
		if err != nil {
			return nil, lookupError(err)
		}
		profile = resp.GetProfile().GetName()
	default:
		return nil, apierror.Invalid("profile", "either profile or identifier is required")
	}
	memberships, err := s.engine.ProfileMemberships(ctx, profile)
	if err != nil {
		return nil, err
	}
	resp := &segmentv1.ListProfileMembershipsResponse{Profile: profile}
	for _, m := range memberships {
		resp.Memberships = append(resp.Memberships, membershipProto(m))
	}
	return resp, nil
}

// WatchMembershipChanges streams the changes after a cursor, then follows
// new ones.
func (s *Server) WatchMembershipChanges(req *segmentv1.WatchMembershipChangesRequest, stream grpc.ServerStreamingServer[segmentv1.WatchMembershipChangesResponse]) error {
	invalid := &apierror.InvalidError{}
	after, err := feed.DecodeCursor("after_cursor", req.GetAfterCursor())
	invalid.Merge(err)
	var segments []string
	for i, name := range req.GetSegments() {
		id, err := parseSegment("segments["+strconv.Itoa(i)+"]", name)
		invalid.Merge(err)
		segments = append(segments, id)
	}
	if err := invalid.OrNil(); err != nil {
		return err
	}
	return s.engine.Watch(stream.Context(), after, segments, func(changes []segment.Change) error {
		resp := &segmentv1.WatchMembershipChangesResponse{Changes: make([]*segmentv1.MembershipChange, len(changes))}
		for i, c := range changes {
			resp.Changes[i] = changeProto(c)
		}
		return stream.Send(resp)
	})
}

// ListMembershipChanges returns a page of recorded membership changes,
// oldest first, of a segment and of a profile named or found by an
// identifier.
func (s *Server) ListMembershipChanges(ctx context.Context, req *segmentv1.ListMembershipChangesRequest) (*segmentv1.ListMembershipChangesResponse, error) {
	invalid := &apierror.InvalidError{}
	var id string
	if req.GetSegment() != "" {
		var err error
		id, err = parseSegment("segment", req.GetSegment())
		invalid.Merge(err)
	}
	profile := req.GetProfile()
	var identifier *profilev1.LookupProfileRequest
	switch {
	case profile != "":
		if pid, ok := strings.CutPrefix(profile, profilePrefix); !ok || pid == "" || strings.Contains(pid, "/") {
			invalid.Add("profile", "%q is not a profile name: want profiles/{profile}", profile)
		}
	case req.GetIdentifier() != nil:
		normalized, err := ident.Normalize(req.GetIdentifier())
		if err != nil {
			invalid.Add("identifier", "%v", err)
		}
		identifier = &profilev1.LookupProfileRequest{Identifier: normalized}
	}
	var after int64
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &after)
	invalid.Merge(err)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	if identifier != nil {
		resp, err := s.profiles.LookupProfile(ctx, identifier)
		if err != nil {
			return nil, lookupError(err)
		}
		profile = resp.GetProfile().GetName()
	}
	changes, err := s.engine.ListChanges(ctx, id, profile, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &segmentv1.ListMembershipChangesResponse{}
	changes, resp.NextPageToken = page.Trim(changes, size, func(x segment.Change) any { return x.Seq })
	for _, c := range changes {
		resp.Changes = append(resp.Changes, changeProto(c))
	}
	return resp, nil
}

// lookupError passes on the profile service's answers about the
// identifier (NotFound for an unknown one) as they are; any other failure
// of the call is the profile service being unavailable, without its
// internal cause.
func lookupError(err error) error {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument, codes.Canceled, codes.DeadlineExceeded:
		return err
	}
	return fmt.Errorf("looking up the identifier: the profile service is %w", apierror.ErrUnavailable)
}

// parseSegment returns the id of a segment name, "segments/{segment}".
func parseSegment(field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok || !segment.IDPattern.MatchString(id) {
		return "", apierror.Invalid(field, "%q is not a segment name: want segments/{segment}, such as segments/buyers", name)
	}
	return id, nil
}

func segmentProto(s segment.Segment) *segmentv1.Segment {
	out := &segmentv1.Segment{
		Name:           segmentPrefix + s.ID,
		DisplayName:    s.DisplayName,
		Description:    s.Description,
		Condition:      s.Condition,
		Revision:       s.Revision,
		CreateTime:     timestamppb.New(s.CreateTime),
		UpdateTime:     timestamppb.New(s.UpdateTime),
		RevisionAuthor: s.Author,
		RevisionReason: s.Reason,
		ExclusiveGroup: s.Group,
		Priority:       s.Priority,
	}
	if s.Archived() {
		out.ArchiveTime = timestamppb.New(s.ArchiveTime)
	}
	return out
}

func membershipProto(m segment.Membership) *segmentv1.Membership {
	return &segmentv1.Membership{
		Segment:         segmentPrefix + m.Segment,
		Profile:         m.Profile,
		EnterTime:       timestamppb.New(m.EnterTime),
		SegmentRevision: m.Revision,
	}
}

func changeProto(c segment.Change) *segmentv1.MembershipChange {
	kind := segmentv1.MembershipChange_KIND_ENTERED
	if c.Kind == segment.Exited {
		kind = segmentv1.MembershipChange_KIND_EXITED
	}
	return &segmentv1.MembershipChange{
		Cursor:          feed.EncodeCursor(c.Seq),
		Segment:         segmentPrefix + c.Segment,
		Profile:         c.Profile,
		Kind:            kind,
		ChangeTime:      timestamppb.New(c.Time),
		SegmentRevision: c.Revision,
		Reason:          c.Reason,
		TraceContext:    c.TraceContext,
	}
}

// ListSegmentTemplates returns a page of the built-in templates, in the
// order in which creating them works.
func (s *Server) ListSegmentTemplates(_ context.Context, req *segmentv1.ListSegmentTemplatesRequest) (*segmentv1.ListSegmentTemplatesResponse, error) {
	invalid := &apierror.InvalidError{}
	var offset int
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &offset)
	invalid.Merge(err)
	if err == nil && offset < 0 {
		invalid.Add("page_token", "is not a token from a previous response")
	}
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	templates := segment.Templates()
	resp := &segmentv1.ListSegmentTemplatesResponse{}
	for i := min(offset, len(templates)); i < len(templates) && len(resp.Templates) < size; i++ {
		tpl := templates[i]
		seg := segmentProto(tpl.Segment)
		seg.CreateTime, seg.UpdateTime = nil, nil
		resp.Templates = append(resp.Templates, &segmentv1.SegmentTemplate{
			Name: templatePrefix + tpl.Segment.ID, Segment: seg, Category: tpl.Category,
		})
		if len(resp.Templates) == size && i+1 < len(templates) {
			resp.NextPageToken = page.Encode(i + 1)
		}
	}
	return resp, nil
}
