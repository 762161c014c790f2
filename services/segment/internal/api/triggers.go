package api

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/feed"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/page"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// Limits of triggers.
const (
	MaxTriggerDelay = 365 * 24 * time.Hour
	MinSecret       = 16
	MaxSecret       = 256
	MaxURL          = 2048
)

const triggerPrefix = "triggers/"

// CreateTrigger validates and creates a webhook trigger.
func (s *Server) CreateTrigger(ctx context.Context, req *segmentv1.CreateTriggerRequest) (*segmentv1.CreateTriggerResponse, error) {
	invalid := &apierror.InvalidError{}
	if !segment.IDPattern.MatchString(req.GetTriggerId()) {
		invalid.Add("trigger_id", "%q is not a trigger id: use 1 to 63 lowercase letters, digits and hyphens, starting with a letter, such as \"cart-reminder\"", req.GetTriggerId())
	}
	in := req.GetTrigger()
	if in == nil {
		invalid.Add("trigger", "is required")
		return nil, invalid
	}
	seg, err := parseSegment("trigger.segment", in.GetSegment())
	invalid.Merge(err)
	var on segment.Kind
	switch in.GetOn() {
	case segmentv1.MembershipChange_KIND_ENTERED:
		on = segment.Entered
	case segmentv1.MembershipChange_KIND_EXITED:
		on = segment.Exited
	default:
		invalid.Add("trigger.on", "is required: KIND_ENTERED or KIND_EXITED")
	}
	var delay time.Duration
	if d := in.GetDelay(); d != nil {
		if err := d.CheckValid(); err != nil {
			invalid.Add("trigger.delay", "%v", err)
		} else if delay = d.AsDuration(); delay < 0 || delay > MaxTriggerDelay {
			invalid.Add("trigger.delay", "is %s; want 0 to %s", delay, MaxTriggerDelay)
		}
	}
	if u, err := url.Parse(in.GetUrl()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.GetUrl()) > MaxURL {
		invalid.Add("trigger.url", "%q is not an http or https URL of at most %d characters, such as https://hooks.example.com/barista", in.GetUrl(), MaxURL)
	}
	if n := utf8.RuneCountInString(in.GetSecret()); n < MinSecret || n > MaxSecret {
		invalid.Add("trigger.secret", "is %d characters long; want %d to %d, random, such as the output of openssl rand -hex 32", n, MinSecret, MaxSecret)
	}
	if c := in.GetRequiredConsent(); c != "" && !slices.Contains(segment.ConsentPurposes, c) {
		invalid.Add("trigger.required_consent", "%q is not a purpose: want one of %s, or empty for none", c, strings.Join(segment.ConsentPurposes, ", "))
	}
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	t, err := s.engine.CreateTrigger(ctx, segment.Trigger{ID: req.GetTriggerId(), Segment: seg, On: on, Delay: delay, URL: in.GetUrl(), Secret: in.GetSecret(), RequiredConsent: in.GetRequiredConsent()})
	if err != nil {
		return nil, err
	}
	return &segmentv1.CreateTriggerResponse{Trigger: triggerProto(t)}, nil
}

// GetTrigger returns a trigger, without its secret.
func (s *Server) GetTrigger(ctx context.Context, req *segmentv1.GetTriggerRequest) (*segmentv1.GetTriggerResponse, error) {
	id, err := parseTrigger("name", req.GetName())
	if err != nil {
		return nil, err
	}
	t, err := s.engine.GetTrigger(ctx, id)
	if err != nil {
		return nil, err
	}
	return &segmentv1.GetTriggerResponse{Trigger: triggerProto(t)}, nil
}

// ListTriggers returns a page of triggers by id.
func (s *Server) ListTriggers(ctx context.Context, req *segmentv1.ListTriggersRequest) (*segmentv1.ListTriggersResponse, error) {
	invalid := &apierror.InvalidError{}
	var after string
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &after)
	invalid.Merge(err)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	ts, err := s.engine.ListTriggers(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &segmentv1.ListTriggersResponse{}
	ts, resp.NextPageToken = page.Trim(ts, size, func(x segment.Trigger) any { return x.ID })
	for _, t := range ts {
		resp.Triggers = append(resp.Triggers, triggerProto(t))
	}
	return resp, nil
}

// ListTriggerDeliveries returns a page of a trigger's deliveries, newest
// first.
func (s *Server) ListTriggerDeliveries(ctx context.Context, req *segmentv1.ListTriggerDeliveriesRequest) (*segmentv1.ListTriggerDeliveriesResponse, error) {
	invalid := &apierror.InvalidError{}
	id, err := parseTrigger("trigger", req.GetTrigger())
	invalid.Merge(err)
	var before int64
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &before)
	invalid.Merge(err)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	ds, err := s.engine.ListDeliveries(ctx, id, before, size+1)
	if err != nil {
		return nil, err
	}
	resp := &segmentv1.ListTriggerDeliveriesResponse{}
	ds, resp.NextPageToken = page.Trim(ds, size, func(x segment.Delivery) any { return x.ID })
	for _, d := range ds {
		resp.Deliveries = append(resp.Deliveries, deliveryProto(d))
	}
	return resp, nil
}

// parseTrigger returns the id of a trigger name, "triggers/{trigger}".
func parseTrigger(field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, triggerPrefix)
	if !ok || !segment.IDPattern.MatchString(id) {
		return "", apierror.Invalid(field, "%q is not a trigger name: want triggers/{trigger}, such as triggers/cart-reminder", name)
	}
	return id, nil
}

func kindProto(k segment.Kind) segmentv1.MembershipChange_Kind {
	if k == segment.Exited {
		return segmentv1.MembershipChange_KIND_EXITED
	}
	return segmentv1.MembershipChange_KIND_ENTERED
}

func triggerProto(t segment.Trigger) *segmentv1.Trigger {
	return &segmentv1.Trigger{
		Name: triggerPrefix + t.ID, Segment: segmentPrefix + t.Segment, On: kindProto(t.On),
		Delay: durationpb.New(t.Delay), Url: t.URL, CreateTime: timestamppb.New(t.CreateTime), RequiredConsent: t.RequiredConsent,
	}
}

func deliveryProto(d segment.Delivery) *segmentv1.Delivery {
	out := &segmentv1.Delivery{
		Name:         triggerPrefix + d.Trigger + "/deliveries/" + strconv.FormatInt(d.ID, 10),
		ChangeCursor: feed.EncodeCursor(d.Change), Segment: segmentPrefix + d.Segment, Profile: d.Profile,
		Kind: kindProto(d.Kind), ChangeTime: timestamppb.New(d.ChangeTime), DueTime: timestamppb.New(d.DueTime),
		State: segmentv1.Delivery_State(d.State), Attempts: int32(d.Attempts), LastStatus: int32(d.LastStatus), LastError: d.LastError,
	}
	if !d.DoneTime.IsZero() {
		out.DoneTime = timestamppb.New(d.DoneTime)
	}
	return out
}
