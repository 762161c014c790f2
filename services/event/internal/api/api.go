// Package api implements barista.event.v1.EventService: it validates
// requests, translates between protos and the event domain, and calls the
// event Log. Errors are returned as domain errors; the server's interceptor
// turns them into statuses.
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/pkg/page"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/identity"
	"github.com/barista-cdp/barista/services/event/internal/normalize"
)

// Limits of the API.
const (
	// MaxBatch is the most events one IngestEvents call may carry.
	MaxBatch = 1000
	// DefaultStreamBatch and MaxStreamBatch bound the events per
	// StreamEvents message.
	DefaultStreamBatch = 500
	MaxStreamBatch     = 1000
	// DefaultStreamInFlight is how many requests of one IngestEventStream
	// are held (received, not yet answered) before the server stops reading.
	DefaultStreamInFlight = 8
	// MaxGroupEvents bounds the events of the waiting stream requests that
	// are committed together in one transaction.
	MaxGroupEvents = 5000
)

// Server implements eventv1.EventServiceServer.
type Server struct {
	eventv1.UnimplementedEventServiceServer
	log      *event.Log
	now      func() time.Time
	rules    *normalize.Normalizer
	inFlight int
	ingested metric.Int64Counter
}

// Options adjusts NewServer.
type Options struct {
	// Now is the clock that stamps receive times; time.Now when nil.
	Now func() time.Time
	// Normalizer is the one the Log applies, reported by
	// GetNormalizationRules; nil reports no rules.
	Normalizer *normalize.Normalizer
	// StreamInFlight bounds the requests of one IngestEventStream that are
	// received but not yet answered; DefaultStreamInFlight when zero.
	StreamInFlight int
}

// NewServer returns a Server over log.
func NewServer(log *event.Log, opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// On error the meter still returns a usable (no-op) counter, and metrics
	// are not worth refusing to serve for.
	ingested, _ := otel.Meter("github.com/barista-cdp/barista/services/event").Int64Counter(
		"barista.event.ingested",
		metric.WithDescription("Events received by IngestEvents, by outcome."),
		metric.WithUnit("{event}"),
	)
	if opts.StreamInFlight <= 0 {
		opts.StreamInFlight = DefaultStreamInFlight
	}
	return &Server{log: log, now: opts.Now, rules: opts.Normalizer, inFlight: opts.StreamInFlight, ingested: ingested}
}

// IngestEvents validates each event on its own, rejecting only the bad
// ones, and ingests the rest as one batch.
func (s *Server) IngestEvents(ctx context.Context, req *eventv1.IngestEventsRequest) (*eventv1.IngestEventsResponse, error) {
	if n := len(req.GetEvents()); n > MaxBatch {
		return nil, apierror.Invalid("events", "a batch holds at most %d events, got %d; split it into smaller batches", MaxBatch, n)
	}
	results, err := s.ingest(ctx, req.GetEvents())
	if err != nil {
		return nil, err
	}
	return &eventv1.IngestEventsResponse{Results: results}, nil
}

// JSONFields are an event's properties, traits and context as JSON
// objects, for callers that receive them as JSON (the Segment Tracking
// API): they are stored as received, numbers exactly as written, instead
// of being converted to structpb and back. Each is nil or valid JSON
// holding one non-empty object; an event's own Struct field, when set,
// wins.
type JSONFields struct {
	Properties, Traits, Context json.RawMessage
}

// IngestJSON is IngestEvents for events whose properties, traits and
// context are given as JSON in fields, fields[i] for events[i].
func (s *Server) IngestJSON(ctx context.Context, events []*eventv1.Event, fields []JSONFields) ([]*eventv1.IngestResult, error) {
	if len(fields) != len(events) {
		return nil, fmt.Errorf("%d JSON fields for %d events", len(fields), len(events))
	}
	if n := len(events); n > MaxBatch {
		return nil, apierror.Invalid("events", "a batch holds at most %d events, got %d; split it into smaller batches", MaxBatch, n)
	}
	p, err := s.prepare(ctx, events, fields)
	if err != nil {
		return nil, err
	}
	return s.commit(ctx, p)
}

// ingest validates and stores events as one batch and returns one result
// per event, indexed by position in events.
func (s *Server) ingest(ctx context.Context, events []*eventv1.Event) ([]*eventv1.IngestResult, error) {
	p, err := s.prepare(ctx, events, nil)
	if err != nil {
		return nil, err
	}
	return s.commit(ctx, p)
}

// prepared is a validated batch whose valid events are prepared by the Log
// and wait for their commit.
type prepared struct {
	events  []*eventv1.Event
	results []*eventv1.IngestResult
	at      []int
	batch   *event.Prepared
}

// prepare validates events, with their JSON fields when fields is not nil,
// and prepares the valid ones (normalization, deduplication, profile
// resolution); nothing is stored yet.
func (s *Server) prepare(ctx context.Context, events []*eventv1.Event, fields []JSONFields) (*prepared, error) {
	n := len(events)
	now := s.now()
	p := &prepared{events: events, results: make([]*eventv1.IngestResult, n), at: make([]int, 0, n)}
	valid := make([]event.Event, 0, n)
	for i, pe := range events {
		var raw JSONFields
		if fields != nil {
			raw = fields[i]
		}
		valid = append(valid, event.Event{})
		if violation := parseEvent(&valid[len(valid)-1], pe, raw, now); violation != nil {
			valid = valid[:len(valid)-1]
			p.results[i] = rejected(i, pe.GetMessageId(), violation.Field, violation.Description)
			continue
		}
		p.at = append(p.at, i)
	}
	var err error
	if p.batch, err = s.log.Prepare(ctx, valid); err != nil {
		return nil, err
	}
	return p, nil
}

// commit stores a prepared batch and returns its results once committed.
func (s *Server) commit(ctx context.Context, p *prepared) ([]*eventv1.IngestResult, error) {
	return s.submit(ctx, p)()
}

// submit queues a prepared batch for its commit, after those submitted
// before it, and returns a function that waits for the commit and returns
// the batch's results.
func (s *Server) submit(ctx context.Context, p *prepared) func() ([]*eventv1.IngestResult, error) {
	wait := s.log.Submit(ctx, p.batch)
	return func() ([]*eventv1.IngestResult, error) {
		return s.results(ctx, p, wait)
	}
}

// results waits for the commit of p and returns its results.
func (s *Server) results(ctx context.Context, p *prepared, wait func() ([]event.Outcome, error)) ([]*eventv1.IngestResult, error) {
	outcomes, err := wait()
	if err != nil {
		return nil, err
	}
	results := p.results
	for k, o := range outcomes {
		i := p.at[k]
		switch o.Status {
		case event.StatusRejected:
			results[i] = rejected(i, p.events[i].GetMessageId(), o.Field, o.Reason)
		case event.StatusAccepted, event.StatusDuplicate:
			status := eventv1.IngestResult_STATUS_ACCEPTED
			if o.Status == event.StatusDuplicate {
				status = eventv1.IngestResult_STATUS_DUPLICATE
			}
			results[i] = &eventv1.IngestResult{
				Index: int32(i), Status: status, MessageId: o.Event.MessageID,
				Name: eventName(o.Event.Seq), Profile: profileName(o.Event.ProfileID),
			}
		default:
			return nil, fmt.Errorf("event %d: no outcome", i)
		}
	}
	s.count(ctx, results)
	return results, nil
}

func (s *Server) count(ctx context.Context, results []*eventv1.IngestResult) {
	counts := map[eventv1.IngestResult_Status]int64{}
	for _, r := range results {
		counts[r.GetStatus()]++
	}
	for st, n := range counts {
		outcome := strings.ToLower(strings.TrimPrefix(st.String(), "STATUS_"))
		s.ingested.Add(ctx, n, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
}

func rejected(i int, messageID, field, reason string) *eventv1.IngestResult {
	path := fmt.Sprintf("events[%d]", i)
	if field != "" {
		path += "." + field
	}
	return &eventv1.IngestResult{Index: int32(i), Status: eventv1.IngestResult_STATUS_REJECTED, MessageId: messageID, Field: path, Error: reason}
}

// pageKey is the content of ListProfileEvents page tokens: the sequence of
// the last event returned.
type pageKey struct {
	After int64 `json:"after"`
}

// ListProfileEvents lists one profile's events by sequence, with keyset
// paging.
func (s *Server) ListProfileEvents(ctx context.Context, req *eventv1.ListProfileEventsRequest) (*eventv1.ListProfileEventsResponse, error) {
	var key pageKey
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &key)
	if err != nil {
		return nil, err
	}
	var profileID string
	switch {
	case req.GetProfile() != "":
		var ok bool
		if profileID, ok = identity.ProfileID(req.GetProfile()); !ok {
			return nil, apierror.Invalid("profile", "%q is not a profile name; want profiles/{profile}", req.GetProfile())
		}
	case req.GetIdentifier() != nil:
		id, err := ident.Normalize(req.GetIdentifier())
		if err != nil {
			return nil, apierror.Invalid("identifier", "%s", err)
		}
		if profileID, err = s.log.LookupProfile(ctx, event.Identifier{Type: id.GetType(), Value: id.GetValue()}); err != nil {
			return nil, err
		}
	default:
		return nil, apierror.Invalid("profile", "either profile or identifier is required")
	}

	events, err := s.log.ListProfile(ctx, profileID, key.After, size+1)
	if err != nil {
		return nil, err
	}
	resp := &eventv1.ListProfileEventsResponse{}
	events, resp.NextPageToken = page.Trim(events, size, func(x event.Event) any { return pageKey{After: x.Seq} })
	resp.Events = make([]*eventv1.Event, len(events))
	for i, ev := range events {
		if resp.Events[i], err = toProto(ev, req.GetJsonObjects()); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// StreamEvents sends the log after the request's cursor and then follows
// it, woken by commits in this process and polling for other replicas'.
func (s *Server) StreamEvents(req *eventv1.StreamEventsRequest, stream eventv1.EventService_StreamEventsServer) error {
	after, err := feed.DecodeCursor("after_cursor", req.GetAfterCursor())
	if err != nil {
		return err
	}
	batch, err := feed.BatchSize(req.GetMaxBatchSize(), DefaultStreamBatch, MaxStreamBatch)
	if err != nil {
		return err
	}
	read := func(ctx context.Context, after int64) ([]event.Event, int64, error) {
		events, err := s.log.ReadAfter(ctx, after, batch)
		if err != nil || len(events) == 0 {
			return nil, after, err
		}
		return events, events[len(events)-1].Seq, nil
	}
	send := func(events []event.Event) error {
		msg := &eventv1.StreamEventsResponse{Events: make([]*eventv1.DeliveredEvent, len(events))}
		for i, ev := range events {
			if ev.Update != nil {
				msg.Events[i] = &eventv1.DeliveredEvent{Cursor: feed.EncodeCursor(ev.Seq), ProfileUpdate: updateToProto(ev.Update)}
				continue
			}
			pe, err := toProto(ev, false)
			if err != nil {
				return err
			}
			msg.Events[i] = &eventv1.DeliveredEvent{Event: pe, Cursor: feed.EncodeCursor(ev.Seq), TraceContext: ev.TraceContext}
		}
		return stream.Send(msg)
	}
	return feed.Tail(stream.Context(), after, s.log.Signal(), read, send)
}

func eventName(seq int64) string {
	return "events/" + strconv.FormatInt(seq, 10)
}

func profileName(id string) string {
	if id == "" {
		return ""
	}
	return identity.ProfilePrefix + id
}
