package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func TestTriggers(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`}})
	require.NoError(t, err)

	_, err = f.client.CreateTrigger(ctx, &segmentv1.CreateTriggerRequest{TriggerId: "Bad", Trigger: &segmentv1.Trigger{
		Segment: "buyers", Delay: durationpb.New(-time.Second), Url: "ftp://x", Secret: "short", RequiredConsent: "newsletter",
	}})
	v := violations(t, err)
	require.Contains(t, v["trigger_id"], `"Bad" is not a trigger id`)
	require.Contains(t, v["trigger.segment"], `"buyers" is not a segment name`)
	require.Contains(t, v["trigger.on"], "is required: KIND_ENTERED or KIND_EXITED")
	require.Contains(t, v["trigger.delay"], "is -1s; want 0 to 8760h0m0s")
	require.Contains(t, v["trigger.url"], `"ftp://x" is not an http or https URL`)
	require.Contains(t, v["trigger.secret"], "is 5 characters long; want 16 to 256")
	require.Contains(t, v["trigger.required_consent"], `"newsletter" is not a purpose: want one of analytics, email, sms, personalization`)

	in := &segmentv1.Trigger{Segment: "segments/buyers", On: segmentv1.MembershipChange_KIND_ENTERED, Delay: durationpb.New(4 * time.Hour),
		Url: "https://hooks.example.com/barista", Secret: "0123456789abcdef0123", RequiredConsent: "email"}
	resp, err := f.client.CreateTrigger(ctx, &segmentv1.CreateTriggerRequest{TriggerId: "reminder", Trigger: in})
	require.NoError(t, err)
	require.Equal(t, "triggers/reminder", resp.GetTrigger().GetName())
	require.Empty(t, resp.GetTrigger().GetSecret(), "the secret is never returned")
	require.Equal(t, 4*time.Hour, resp.GetTrigger().GetDelay().AsDuration())
	require.Equal(t, "email", resp.GetTrigger().GetRequiredConsent())
	_, err = f.client.CreateTrigger(ctx, &segmentv1.CreateTriggerRequest{TriggerId: "reminder", Trigger: in})
	require.Equal(t, codes.AlreadyExists, status.Code(err))
	in.Segment = "segments/nope"
	_, err = f.client.CreateTrigger(ctx, &segmentv1.CreateTriggerRequest{TriggerId: "other", Trigger: in})
	require.Equal(t, codes.NotFound, status.Code(err))

	got, err := f.client.GetTrigger(ctx, &segmentv1.GetTriggerRequest{Name: "triggers/reminder"})
	require.NoError(t, err)
	require.Equal(t, "https://hooks.example.com/barista", got.GetTrigger().GetUrl())
	list, err := f.client.ListTriggers(ctx, &segmentv1.ListTriggersRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetTriggers(), 1)

	require.NoError(t, f.engine.ApplyEvents(ctx, []segment.Event{order(1, "profiles/ana"), order(2, "profiles/bob"), order(3, "profiles/cy")}))
	_, err = f.dispatcher.Enqueue(ctx)
	require.NoError(t, err)
	page1, err := f.client.ListTriggerDeliveries(ctx, &segmentv1.ListTriggerDeliveriesRequest{Trigger: "triggers/reminder", PageSize: 2})
	require.NoError(t, err)
	require.Len(t, page1.GetDeliveries(), 2)
	d := page1.GetDeliveries()[0]
	require.Equal(t, "triggers/reminder/deliveries/3", d.GetName())
	require.Equal(t, "profiles/cy", d.GetProfile())
	require.Equal(t, segmentv1.Delivery_STATE_PENDING, d.GetState())
	require.Equal(t, t0.Add(4*time.Hour), d.GetDueTime().AsTime())
	page2, err := f.client.ListTriggerDeliveries(ctx, &segmentv1.ListTriggerDeliveriesRequest{Trigger: "triggers/reminder", PageSize: 2, PageToken: page1.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, page2.GetDeliveries(), 1)
	require.Empty(t, page2.GetNextPageToken())

	_, err = f.client.ListTriggerDeliveries(ctx, &segmentv1.ListTriggerDeliveriesRequest{Trigger: "triggers/nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = f.client.GetTrigger(ctx, &segmentv1.GetTriggerRequest{Name: "reminder"})
	require.Contains(t, violations(t, err)["name"], "is not a trigger name")
}
