package api

import (
	"context"
	"time"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/pkg/page"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// Page sizes of ListProfileScores: its callers read every customer, so its
// pages are larger than other lists'.
const (
	defaultScoresPageSize = 1000
	maxScoresPageSize     = 10000
)

// scoresToken is the key of a ListProfileScores page: the window of the
// first page, the computation its scores came from, and the last profile
// returned.
type scoresToken struct {
	End  string `json:"e"`
	Days int32  `json:"d"`
	ID   int64  `json:"i"`
	Last string `json:"p"`
}

// ListProfileScores returns a page of the RFM scores of every customer of
// a window, with the store's statistics over the window.
func (s *Server) ListProfileScores(ctx context.Context, req *metricsv1.ListProfileScoresRequest) (*metricsv1.ListProfileScoresResponse, error) {
	v := &violations{}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		v.add("page_size", "must not be negative, got %d", size)
	case size == 0:
		size = defaultScoresPageSize
	case size > maxScoresPageSize:
		size = maxScoresPageSize
	}
	var tok scoresToken
	next, err := page.Decode(req.GetPageToken(), &tok)
	if err != nil {
		return nil, err
	}
	end, days := req.GetEndDate(), req.GetWindowDays()
	if next {
		end, days = tok.End, tok.Days
	}
	from, to := s.parseWindow(v, end, days)
	if err := v.err(); err != nil {
		return nil, err
	}
	scores, err := s.tracker.Scores(ctx, from, to, tok.ID)
	if err != nil {
		return nil, err
	}
	items, more := scores.Page(tok.Last, size)
	out := &metricsv1.ListProfileScoresResponse{
		Scores:     make([]*metricsv1.ProfileScores, len(items)),
		Statistics: statisticsProto(scores.Statistics),
	}
	for i, p := range items {
		out.Scores[i] = &metricsv1.ProfileScores{Profile: p.Profile, Rfm: rfmProto(p.RFM)}
	}
	if more {
		out.NextPageToken = page.Encode(scoresToken{
			End: formatDate(to), Days: int32(to.Sub(from)/(24*time.Hour)) + 1, ID: scores.ID, Last: items[len(items)-1].Profile,
		})
	}
	return out, nil
}

func statisticsProto(st metrics.StoreStatistics) *metricsv1.StoreStatistics {
	return &metricsv1.StoreStatistics{
		StartDate:         formatDate(st.From),
		EndDate:           formatDate(st.To),
		Orders:            st.Orders,
		Revenue:           st.Revenue,
		Customers:         st.Customers,
		AverageOrderValue: st.AverageOrderValue(),
		OrderValueP25:     st.P25,
		OrderValueP50:     st.P50,
		OrderValueP75:     st.P75,
		OrderValueP90:     st.P90,
		OrderValueP99:     st.P99,
	}
}

func rfmProto(r metrics.RFM) *metricsv1.RFM {
	return &metricsv1.RFM{
		HasOrders:      r.HasOrders,
		RecencyDays:    r.RecencyDays,
		Frequency:      r.Frequency,
		Monetary:       r.Monetary,
		RecencyScore:   int32(r.RecencyScore),
		FrequencyScore: int32(r.FrequencyScore),
		MonetaryScore:  int32(r.MonetaryScore),
		Customers:      r.Customers,
	}
}
