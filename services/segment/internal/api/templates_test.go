package api_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func TestListSegmentTemplates(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	var got []*segmentv1.SegmentTemplate
	token := ""
	for pages := 0; ; pages++ {
		resp, err := f.client.ListSegmentTemplates(ctx, &segmentv1.ListSegmentTemplatesRequest{PageSize: 10, PageToken: token})
		require.NoError(t, err)
		require.LessOrEqual(t, len(resp.GetTemplates()), 10)
		got = append(got, resp.GetTemplates()...)
		token = resp.GetNextPageToken()
		if token == "" {
			require.Equal(t, (len(segment.Templates())+9)/10-1, pages)
			break
		}
	}
	require.Len(t, got, len(segment.Templates()))
	vip := got[0]
	require.Equal(t, "segmentTemplates/vip", vip.GetName())
	require.Equal(t, "lifecycle", vip.GetCategory())
	require.Equal(t, "segments/vip", vip.GetSegment().GetName())
	require.Equal(t, "lifecycle", vip.GetSegment().GetExclusiveGroup())
	require.Contains(t, vip.GetSegment().GetDescription(), "Fixed thresholds")

	// Every template creates as it is, in order.
	for _, tpl := range got {
		_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
			SegmentId: tpl.GetSegment().GetName()[len("segments/"):], Segment: tpl.GetSegment(), Author: "test", Reason: "template",
		})
		require.NoError(t, err, tpl.GetName())
	}

	_, err := f.client.ListSegmentTemplates(ctx, &segmentv1.ListSegmentTemplatesRequest{PageSize: -1, PageToken: "!"})
	v := violations(t, err)
	require.Contains(t, v, "page_size")
	require.Contains(t, v, "page_token")
}
