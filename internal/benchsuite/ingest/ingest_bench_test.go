// Package ingest_test benchmarks ingest through the event service's public APIs
// against a raw pgx CopyFrom of the same rows, with identity resolution by
// the real profile service on Postgres.
package ingest_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/barista-cdp/barista/internal/benchsuite"
	"github.com/barista-cdp/barista/pkg/app"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/pkg/pgtest"
	eventmigrations "github.com/barista-cdp/barista/services/event/migrations"
	eventservice "github.com/barista-cdp/barista/services/event/service"
	profilemigrations "github.com/barista-cdp/barista/services/profile/migrations"
	profileservice "github.com/barista-cdp/barista/services/profile/service"
)

// Shape of one benchmark iteration: benchBatches batches of benchEvents
// events per path. A batch is one CopyFrom, one /v1/batch request, or
// benchRequests stream requests.
const (
	benchEvents   = 1000
	benchBatches  = 8
	benchRequests = 10
	benchProfiles = 100
	// benchHTTPClients producers share an iteration's /v1/batch requests,
	// each sending its next request when the last one is answered.
	benchHTTPClients = 4
)

// BenchmarkIngest measures the ingest throughput of the event service's
// public APIs against a raw pgx CopyFrom of the same rows into the same
// table shape, interleaved in each iteration so that noise hits them alike:
//
//   - copy: benchBatches CopyFrom calls of benchEvents rows back to back on
//     one connection, into event.bench_copy (LIKE event.events INCLUDING
//     ALL: the same columns, keys and indexes, in one unpartitioned table
//     and without the event.message_ids dedup table);
//   - stream: the same number of events through one IngestEventStream whose
//     producer keeps sending requests of benchEvents/benchRequests events
//     and reads each answer (sent after its commit) as it comes, as a
//     producer that wants throughput uses a stream; the server's bounded
//     queue and HTTP/2 flow control pace it;
//   - http: benchBatches /v1/batch requests of benchEvents events over
//     loopback HTTP from benchHTTPClients producers, each sending its next
//     request when the last one is answered, as an SDK's concurrent flushes
//     do.
//
// Both APIs resolve identities through the real profile service over
// gRPC, on its own Postgres database. A stream or HTTP rate counts an
// iteration's events from the first send to the last answer.
//
// It also reports, as http-serial, one /v1/batch producer that waits for
// each answer before it sends the next request: that measures the chain of
// one request (read, decode, resolve, append, answer), not throughput.
func BenchmarkIngest(b *testing.B) {
	f := newIngestFixture(b)
	stream, err := f.client.IngestEventStream(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var copyTime, streamTime, httpTime, serialTime time.Duration
	// Iteration 0 warms up, untimed: the benchmark's customers are then
	// known, as a running store's mostly are, the partitions made and the
	// connections open, on every path alike.
	for n := range b.N + 1 {
		start := time.Now()
		for k := range benchBatches {
			if err := f.copyBatch(int64((n*benchBatches + k) * benchEvents)); err != nil {
				b.Fatal(err)
			}
		}
		copyTime += time.Since(start)

		start = time.Now()
		if err := f.streamBatches(stream, benchBatches); err != nil {
			b.Fatal(err)
		}
		streamTime += time.Since(start)

		start = time.Now()
		var wg sync.WaitGroup
		for c := range benchHTTPClients {
			wg.Go(func() {
				for k := c; k < benchBatches; k += benchHTTPClients {
					f.postBatch(b, 0, benchEvents, time.Now().UTC())
				}
			})
		}
		wg.Wait()
		httpTime += time.Since(start)

		start = time.Now()
		for range benchBatches {
			f.postBatch(b, 0, benchEvents, time.Now().UTC())
		}
		serialTime += time.Since(start)
		if n == 0 {
			copyTime, streamTime, httpTime, serialTime = 0, 0, 0, 0
			b.ResetTimer()
		}
	}
	b.StopTimer()
	if err := stream.CloseSend(); err != nil {
		b.Fatal(err)
	}

	total := float64(b.N * benchBatches * benchEvents)
	copyRate, streamRate, httpRate, serialRate := total/copyTime.Seconds(), total/streamTime.Seconds(), total/httpTime.Seconds(), total/serialTime.Seconds()
	b.ReportMetric(copyRate, "copy-events/s")
	b.ReportMetric(streamRate, "stream-events/s")
	b.ReportMetric(httpRate, "http-events/s")
	b.ReportMetric(serialRate, "http-serial-events/s")
	b.ReportMetric(streamRate/copyRate, "stream/copy")
	b.ReportMetric(httpRate/copyRate, "http/copy")
	b.ReportMetric(serialRate/copyRate, "http-serial/copy")
	b.Logf("%.0f events per path: copy %.0f events/s; gRPC stream %.0f events/s = %.2f× copy; HTTP /v1/batch from %d producers %.0f events/s = %.2f× copy; "+
		"HTTP /v1/batch from one producer waiting for each answer %.0f events/s = %.2f× copy",
		total, copyRate, streamRate, streamRate/copyRate, benchHTTPClients, httpRate, httpRate/copyRate, serialRate, serialRate/copyRate)
}

// ingestFixture is what both benchmarks measure: the event service with
// the profile service, each on its own Postgres database, with
// event.bench_copy for the baseline; and the benchmark's customers.
type ingestFixture struct {
	pool       *pgxpool.Pool
	client     eventv1.EventServiceClient
	web        *httptest.Server
	profileIDs []string
	properties json.RawMessage
	// streamProperties sets the properties of an event the stream's
	// producer sends (see streamProperties).
	streamProperties func(*eventv1.Event)
	// messageID makes the message id of each event, for every path alike
	// (see messageIDs).
	messageID func() string
}

// messageIDs are the formats of message id the benchmarks can send, by
// the value of BENCH_MESSAGE_IDS: the Segment Node SDK's (the default),
// which starts with the time in milliseconds, and RudderStack's random
// UUIDs, which land all over event.message_ids's primary key.
var messageIDs = map[string]func() string{
	"segment": func() string { return fmt.Sprintf("node-next-%d-%s", time.Now().UnixMilli(), uuid.NewString()) },
	"uuid":    uuid.NewString,
}

// streamProperties are the ways the stream's producer can send an event's
// properties, by the value of BENCH_STREAM_PROPERTIES: as the text of a
// JSON object (properties_json, the default), as a producer that holds
// events as JSON does and the Tracking API receives them, or as a Struct.
// Either is made once, as the copy path's rows are: what is measured is
// the service, not the producer's encoding.
func streamProperties(b *testing.B, properties json.RawMessage) func(*eventv1.Event) {
	switch format := cmp.Or(os.Getenv("BENCH_STREAM_PROPERTIES"), "json"); format {
	case "json":
		text := string(properties)
		return func(ev *eventv1.Event) { ev.PropertiesJson = text }
	case "struct":
		s := &structpb.Struct{}
		if err := protojson.Unmarshal(properties, s); err != nil {
			b.Fatal(err)
		}
		return func(ev *eventv1.Event) { ev.Properties = s }
	default:
		b.Fatalf("BENCH_STREAM_PROPERTIES=%s: want json or struct", format)
		return nil
	}
}

func newIngestFixture(b *testing.B) *ingestFixture {
	b.Helper()
	f := &ingestFixture{pool: pgtest.NewPool(b, "event", eventmigrations.FS), profileIDs: make([]string, benchProfiles),
		properties: json.RawMessage(`{"category":"shoes","price":59.9,"product_id":"p-7"}`)}
	if _, err := f.pool.Exec(context.Background(), `CREATE TABLE event.bench_copy (LIKE event.events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	client, handler := serveWithProfiles(b, f.pool, pgtest.NewPool(b, "profile", profilemigrations.FS))
	f.client, f.web = client, httptest.NewServer(handler)
	b.Cleanup(f.web.Close)
	for i := range f.profileIDs {
		f.profileIDs[i] = uuid.Must(uuid.NewV7()).String()
	}
	f.streamProperties = streamProperties(b, f.properties)
	format := cmp.Or(os.Getenv("BENCH_MESSAGE_IDS"), "segment")
	if f.messageID = messageIDs[format]; f.messageID == nil {
		b.Fatalf("BENCH_MESSAGE_IDS=%s: want segment or uuid", format)
	}
	return f
}

var copyColumns = []string{"seq", "message_id", "profile_id", "type", "event", "identifiers", "properties", "traits", "context", "occurred_at", "received_at", "trace_context"}

// copyBatch copies benchEvents rows into event.bench_copy, with fresh
// message ids and sequences after seq.
func (f *ingestFixture) copyBatch(seq int64) error {
	now := time.Now().UTC()
	rows := make([][]any, benchEvents)
	for i := range rows {
		u := i % benchProfiles
		ids, _ := json.Marshal([]map[string]string{{"type": "user_id", "value": benchUser(u)}})
		rows[i] = []any{seq + int64(i) + 1, f.messageID(), f.profileIDs[u], int16(1), "Product Viewed",
			json.RawMessage(ids), f.properties, nil, nil, now, now, nil}
	}
	_, err := f.pool.CopyFrom(context.Background(), pgx.Identifier{"event", "bench_copy"}, copyColumns, pgx.CopyFromRows(rows))
	return err
}

// streamBatches sends batches×benchEvents events with fresh message ids on
// stream, as requests of benchEvents/benchRequests events sent without
// waiting for answers, reads every answer, and fails unless every event is
// accepted.
func (f *ingestFixture) streamBatches(stream eventv1.EventService_IngestEventStreamClient, batches int) error {
	requests := batches * benchRequests
	sendErr := make(chan error, 1)
	go func() {
		per := benchEvents / benchRequests
		for r := range requests {
			req := &eventv1.IngestEventStreamRequest{Events: make([]*eventv1.Event, per)}
			for k := range per {
				i := r*per + k
				req.Events[k] = &eventv1.Event{
					MessageId: f.messageID(), Event: "Product Viewed",
					Identifiers: []*typev1.Identifier{{Type: "user_id", Value: benchUser(i % benchProfiles)}},
				}
				f.streamProperties(req.Events[k])
			}
			if err := stream.Send(req); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	var failed error
	for range requests {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		for _, r := range resp.GetResults() {
			if r.GetStatus() != eventv1.IngestResult_STATUS_ACCEPTED && failed == nil {
				failed = fmt.Errorf("stream: %v", r)
			}
		}
	}
	if err := <-sendErr; err != nil {
		return err
	}
	return failed
}

// serveWithProfiles runs the event service on eventPool with the profile
// service on profilePool as its peer, both on one in-process gRPC server,
// as a deployment runs them on two.
func serveWithProfiles(b *testing.B, eventPool, profilePool *pgxpool.Pool) (eventv1.EventServiceClient, http.Handler) {
	b.Helper()
	srv := grpctest.New(b)
	ctx, cancel := context.WithCancel(context.Background())
	var services []app.Service
	for _, spec := range []struct {
		spec app.Spec
		env  app.Env
	}{
		{profileservice.Spec, app.Env{Pool: profilePool}},
		{eventservice.Spec, app.Env{Pool: eventPool, Peers: map[string]*grpc.ClientConn{"profile": srv.Conn}}},
	} {
		svc, err := spec.spec.New(ctx, spec.env)
		if err != nil {
			b.Fatal(err)
		}
		svc.Register(srv)
		services = append(services, svc)
	}
	done := make(chan error, len(services))
	for _, svc := range services {
		go func() { done <- svc.Run(ctx) }()
	}
	srv.Start()
	b.Cleanup(func() {
		cancel()
		for range services {
			if err := <-done; err != nil {
				b.Error(err)
			}
		}
	})
	return eventv1.NewEventServiceClient(srv.Conn), services[1].(app.HTTPService).HTTPHandler()
}

// benchUser is the user id of the benchmark's customer u.
func benchUser(u int) string { return fmt.Sprintf("bench-user-%d", u) }

// postBatch posts count track events with fresh message ids as one
// /v1/batch request, failing b unless every event is accepted.
func (f *ingestFixture) postBatch(b *testing.B, from, count int, now time.Time) {
	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i := from; i < from+count; i++ {
		if i > from {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"type":"track","messageId":"%s","userId":"%s","event":"Product Viewed","properties":%s,"timestamp":%q}`,
			f.messageID(), benchUser(i%benchProfiles), f.properties, now.Format(time.RFC3339Nano))
	}
	body.WriteString(`]}`)
	req, err := http.NewRequest(http.MethodPost, f.web.URL+"/v1/batch", &body)
	if err != nil {
		b.Error(err)
		return
	}
	req.SetBasicAuth("bench", "")
	resp, err := f.web.Client().Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(out), `"rejected"`) {
		b.Errorf("http: %d %s", resp.StatusCode, out)
	}
}

// BenchmarkIngestSustained measures ingest capacity under sustained load,
// as a store with many clients sees it: benchHTTPClients producers each
// sending batches of benchEvents back to back for BENCH_SECONDS (default
// 3) per phase, through each path in turn, against as many concurrent raw
// pgx CopyFrom loops of the same rows into the same table shape. The
// phases alternate (copy, stream, http, twice) so that noise hits them
// alike; each path's rate is its acknowledged events over its time. The
// stream producers keep up to benchRequests requests of
// benchEvents/benchRequests events in flight each. Reported: the rates and
// the ratios to copy.
func BenchmarkIngestSustained(b *testing.B) {
	d, err := benchsuite.LoadSeconds()
	if err != nil {
		b.Fatal(err)
	}
	f := newIngestFixture(b)
	var seq atomic.Int64

	// Each phase runs benchHTTPClients producers for d and returns the
	// events they had acknowledged; a producer's batch is numbered by
	// phase, producer and count, so message ids never repeat.
	phase := func(round int, send func(p, n int) int) (int, time.Duration) {
		var total atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(d)
		for p := range benchHTTPClients {
			wg.Go(func() {
				for n := 0; time.Now().Before(deadline); n++ {
					total.Add(int64(send(p, round*1_000_000+n)))
				}
			})
		}
		wg.Wait()
		return int(total.Load()), time.Since(start)
	}
	// A producer's failure fails the benchmark; it counts nothing.
	counted := func(err error) int {
		if err != nil {
			b.Error(err)
			return 0
		}
		return benchEvents
	}
	copyBatch := func(p, n int) int {
		return counted(f.copyBatch(seq.Add(benchEvents) - benchEvents))
	}
	streams := make([]eventv1.EventService_IngestEventStreamClient, benchHTTPClients)
	for p := range streams {
		var err error
		if streams[p], err = f.client.IngestEventStream(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	streamBatch := func(p, n int) int {
		return counted(f.streamBatches(streams[p], 1))
	}
	httpBatch := func(p, n int) int {
		f.postBatch(b, 0, benchEvents, time.Now().UTC())
		return benchEvents
	}

	// A short untimed round warms every path up, as BenchmarkIngest's
	// first iteration does.
	for _, send := range []func(p, n int) int{copyBatch, streamBatch, httpBatch} {
		for p := range benchHTTPClients {
			send(p, -1-p)
		}
	}
	var events [3]int
	var took [3]time.Duration
	for b.Loop() {
		for round := range 2 {
			for k, send := range []func(p, n int) int{copyBatch, streamBatch, httpBatch} {
				n, t := phase(3*round+k, send)
				events[k] += n
				took[k] += t
			}
		}
	}
	for _, s := range streams {
		if err := s.CloseSend(); err != nil {
			b.Fatal(err)
		}
	}
	rate := func(k int) float64 { return float64(events[k]) / took[k].Seconds() }
	copyRate, streamRate, httpRate := rate(0), rate(1), rate(2)
	b.ReportMetric(copyRate, "copy-events/s")
	b.ReportMetric(streamRate, "stream-events/s")
	b.ReportMetric(httpRate, "http-events/s")
	b.ReportMetric(streamRate/copyRate, "stream/copy")
	b.ReportMetric(httpRate/copyRate, "http/copy")
	b.Logf("%d producers back to back, %s per phase: copy %.0f events/s; gRPC stream %.0f events/s = %.2f× copy; HTTP /v1/batch %.0f events/s = %.2f× copy",
		benchHTTPClients, d, copyRate, streamRate, streamRate/copyRate, httpRate, httpRate/copyRate)
}
