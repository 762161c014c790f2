package service_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/barista-cdp/barista/pkg/app"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

// TestServiceTriggerPosts checks that the running service sends a signed
// webhook when a profile enters a segment with a trigger, after its delay,
// and logs the delivery.
func TestServiceTriggerPosts(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := segment.Verify(secret, r.Header.Get(segment.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(body))
	}))
	defer hook.Close()

	s := newSuite(t)
	stop := s.run(t, app.Env{Pool: pgtest.NewPool(t, "segment", migrations.FS)})
	defer stop()
	ctx := context.Background()
	_, err := s.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers",
		Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`}})
	require.NoError(t, err)
	_, err = s.client.CreateTrigger(ctx, &segmentv1.CreateTriggerRequest{TriggerId: "thanks", Trigger: &segmentv1.Trigger{
		Segment: "segments/buyers", On: segmentv1.MembershipChange_KIND_ENTERED, Delay: durationpb.New(time.Second), Url: hook.URL, Secret: secret,
	}})
	require.NoError(t, err)
	s.peers.append(t, &eventv1.Event{Event: "Order Completed", Profile: "profiles/u7", Identifiers: userID("7")}, traceparent)

	eventually(t, "the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) == 1
	})
	require.Contains(t, bodies[0], `"profile":"profiles/u7"`)
	// The receiver answers before the dispatcher records the outcome.
	var d *segmentv1.Delivery
	eventually(t, "the delivery logged as sent", func() bool {
		resp, err := s.client.ListTriggerDeliveries(ctx, &segmentv1.ListTriggerDeliveriesRequest{Trigger: "triggers/thanks"})
		require.NoError(t, err)
		require.Len(t, resp.GetDeliveries(), 1)
		d = resp.GetDeliveries()[0]
		return d.GetState() == segmentv1.Delivery_STATE_SENT
	})
	require.Equal(t, int32(http.StatusOK), d.GetLastStatus())
	require.GreaterOrEqual(t, d.GetDoneTime().AsTime().Sub(d.GetChangeTime().AsTime()), time.Second, "not before the delay")
}
