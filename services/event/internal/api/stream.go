package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/barista-cdp/barista/pkg/apierror"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
)

// IngestEventStream ingests a stream of batches.
//
// Why a bidirectional stream and not a client stream with one summary: the
// producer gets each request's results as soon as it is committed, so it can
// drop what it buffered for retries and learn of rejected events while it is
// still sending, and a failure part way through tells it exactly which
// requests were committed (the answered ones). A single summary at the end
// would hold every result of an unbounded stream in memory and acknowledge
// nothing until the producer stops.
//
// Four goroutines form a pipeline. A reader receives requests into a queue
// of s.inFlight; when the queue is full it stops calling Recv, and HTTP/2
// flow control then blocks the producer: memory per stream is bounded. A
// preparer takes the requests waiting in the queue (up to MaxGroupEvents
// events) as one group, validates it and resolves its profiles; a committer
// submits each prepared group for its commit at once, so that the groups
// prepared while a transaction runs are appended together in the next one
// (group commit, with resolution overlapping the commits); the handler
// answers each group's requests once it is committed, at most
// maxSubmittedGroups behind. Answers keep request order; an event repeating
// a message id of an earlier request of the stream is a duplicate, as if the
// requests had been sent one by one. When preparing fails, the groups
// prepared before are still committed and answered, then the stream ends
// with the error.
func (s *Server) IngestEventStream(stream eventv1.EventService_IngestEventStreamServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	queue := make(chan *eventv1.IngestEventStreamRequest, s.inFlight)
	recvErr := make(chan error, 1)
	go func() {
		defer close(queue)
		for {
			req, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					recvErr <- err
				}
				return
			}
			select {
			case queue <- req:
			case <-ctx.Done():
				return
			}
		}
	}()

	ready := make(chan *group, 1)
	var prepareErr error
	prepared := make(chan struct{})
	go func() {
		defer close(prepared)
		defer close(ready)
		prepareErr = s.prepareGroups(ctx, queue, ready)
	}()

	// The committer submits each group as soon as it is prepared, so that
	// groups prepared while a transaction runs share the next one; this loop
	// answers them in order, each once committed.
	submitted := make(chan submittedGroup, maxSubmittedGroups)
	go func() {
		defer close(submitted)
		for g := range ready {
			select {
			case submitted <- submittedGroup{g, s.submit(ctx, g.batch)}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for sub := range submitted {
		g := sub.group
		results, err := sub.wait()
		if err != nil {
			cancel()
			for range submitted {
			}
			<-prepared
			return err
		}
		off := 0
		for k, req := range g.requests {
			n := len(req.GetEvents())
			resp := &eventv1.IngestEventStreamResponse{RequestIndex: g.first + int64(k), Results: results[off : off+n]}
			for _, r := range resp.Results {
				local := int(r.GetIndex()) - off
				if rest, ok := strings.CutPrefix(r.GetField(), fmt.Sprintf("events[%d]", r.GetIndex())); ok {
					r.Field = fmt.Sprintf("events[%d]%s", local, rest)
				}
				r.Index = int32(local)
			}
			if err := stream.Send(resp); err != nil {
				cancel()
				for range submitted {
				}
				<-prepared
				return err
			}
			off += n
		}
	}
	<-prepared
	if prepareErr != nil {
		return prepareErr
	}
	select {
	case err := <-recvErr:
		return err
	default:
		return nil
	}
}

// maxSubmittedGroups bounds the groups of a stream submitted for their
// commit and not yet answered, beyond the one being answered: enough for
// one to wait while a transaction runs, few enough to keep memory bounded.
const maxSubmittedGroups = 2

// submittedGroup is a group submitted for its commit, and how to wait
// for its results.
type submittedGroup struct {
	*group
	wait func() ([]*eventv1.IngestResult, error)
}

// group is consecutive requests of a stream, prepared as one batch.
type group struct {
	first    int64
	requests []*eventv1.IngestEventStreamRequest
	batch    *prepared
}

// prepareGroups turns the queued requests into prepared groups, in order,
// until the queue closes or a request or its preparation fails.
func (s *Server) prepareGroups(ctx context.Context, queue <-chan *eventv1.IngestEventStreamRequest, ready chan<- *group) error {
	var next int64
	for {
		first, ok := <-queue
		if !ok {
			return nil
		}
		g := &group{first: next, requests: []*eventv1.IngestEventStreamRequest{first}}
		size := len(first.GetEvents())
		var bad error
	drain:
		for size < MaxGroupEvents {
			select {
			case req, ok := <-queue:
				if !ok {
					break drain
				}
				g.requests = append(g.requests, req)
				size += len(req.GetEvents())
			default:
				break drain
			}
		}
		for k, req := range g.requests {
			if n := len(req.GetEvents()); n > MaxBatch {
				bad = apierror.Invalid(fmt.Sprintf("requests[%d].events", next+int64(k)),
					"a request holds at most %d events, got %d; split it into smaller requests", MaxBatch, n)
				g.requests = g.requests[:k]
				break
			}
		}
		if len(g.requests) > 0 {
			events := make([]*eventv1.Event, 0, size)
			for _, req := range g.requests {
				events = append(events, req.GetEvents()...)
			}
			var err error
			if g.batch, err = s.prepare(ctx, events, nil); err != nil {
				return err
			}
			select {
			case ready <- g:
			case <-ctx.Done():
				return ctx.Err()
			}
			next += int64(len(g.requests))
		}
		if bad != nil {
			return bad
		}
	}
}

// GetNormalizationRules reports the rules the log applies.
func (s *Server) GetNormalizationRules(context.Context, *eventv1.GetNormalizationRulesRequest) (*eventv1.GetNormalizationRulesResponse, error) {
	rules := &eventv1.NormalizationRules{}
	if s.rules != nil {
		r := s.rules.Rules()
		rules.EventAliases = s.rules.EventAliases()
		rules.CategoryLabels = s.rules.CategoryLabels()
		rules.StoreCurrency = r.StoreCurrency
		rules.CurrencyRates = maps.Clone(r.CurrencyRates)
		rules.MoneyProperties = append([]string(nil), r.MoneyProperties...)
	}
	return &eventv1.GetNormalizationRulesResponse{Rules: rules}, nil
}
