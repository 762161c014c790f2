// Package ingest_test benchmarks ingest through the event service's public APIs
// against a raw pgx CopyFrom of the same rows, with identity resolution by
// the real profile service on Postgres.
package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

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

// Shape of one benchmark iteration: benchEvents events per path, sent as
// benchRequests pipelined stream requests or one /v1/batch request.
const (
	benchEvents   = 1000
	benchRequests = 10
	benchProfiles = 100
	// benchHTTPClients producers share each iteration's events in the
	// concurrent HTTP measurement, where group commit shares transactions.
	benchHTTPClients = 4
)

// BenchmarkIngest measures, in the same run and interleaved so that noise
// hits them alike, the events/s of three ways of durably storing the same
// rows in Postgres:
//
//   - copy: raw pgx CopyFrom into a table of the same shape as event.events
//     (LIKE ... INCLUDING ALL: same columns, keys and indexes, in one
//     unpartitioned table and without the event.message_ids dedup table),
//     the physical limit on this machine;
//   - stream: IngestEventStream over gRPC, each request acknowledged after
//     commit, with identity resolution by the real profile service over
//     gRPC, on its own Postgres database;
//   - http: the Segment Tracking API's /v1/batch over loopback HTTP, from one
//     producer sending batches of benchEvents, and from benchHTTPClients
//     concurrent producers sharing them.
//
// It reports each rate and the ratios to copy.
func BenchmarkIngest(b *testing.B) {
	pool := pgtest.NewPool(b, "event", eventmigrations.FS)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE event.bench_copy (LIKE event.events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	client, handler := serveWithProfiles(b, pool, pgtest.NewPool(b, "profile", profilemigrations.FS))
	web := httptest.NewServer(handler)
	b.Cleanup(web.Close)
	stream, err := client.IngestEventStream(ctx)
	if err != nil {
		b.Fatal(err)
	}

	profileIDs := make([]string, benchProfiles)
	for i := range profileIDs {
		profileIDs[i] = uuid.Must(uuid.NewV7()).String()
	}
	columns := []string{"seq", "message_id", "profile_id", "type", "event", "identifiers", "properties", "traits", "context", "occurred_at", "received_at", "trace_context"}
	properties := json.RawMessage(`{"category":"shoes","price":59.9,"product_id":"p-7"}`)
	// The stream's producer encodes its properties once, as the copy path
	// does: what is measured is the service, not the producer's encoding.
	props, err := structFromJSON(properties)
	if err != nil {
		b.Fatal(err)
	}
	var copyTime, streamTime, httpTime, concurrentTime time.Duration
	// Iteration 0 warms up, untimed: the benchmark's customers are then
	// known, as a running store's mostly are, the partitions made and the
	// connections open, on every path alike.
	for n := range b.N + 1 {
		// copy
		start := time.Now()
		now := start.UTC()
		rows := make([][]any, benchEvents)
		for i := range rows {
			u := i % benchProfiles
			ids, _ := json.Marshal([]map[string]string{{"type": "user_id", "value": benchUser(u)}})
			rows[i] = []any{int64(n*benchEvents + i + 1), fmt.Sprintf("copy-%d-%d", n, i), profileIDs[u], int16(1), "Product Viewed",
				json.RawMessage(ids), properties, nil, nil, now, now, nil}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"event", "bench_copy"}, columns, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)

		// stream
		start = time.Now()
		sendErr := make(chan error, 1)
		go func() {
			per := benchEvents / benchRequests
			for r := range benchRequests {
				req := &eventv1.IngestEventStreamRequest{Events: make([]*eventv1.Event, per)}
				for k := range per {
					i := r*per + k
					req.Events[k] = &eventv1.Event{
						MessageId: fmt.Sprintf("stream-%d-%d", n, i), Event: "Product Viewed", Properties: props,
						Identifiers: []*typev1.Identifier{{Type: "user_id", Value: benchUser(i % benchProfiles)}},
					}
				}
				if err := stream.Send(req); err != nil {
					sendErr <- err
					return
				}
			}
			sendErr <- nil
		}()
		for range benchRequests {
			resp, err := stream.Recv()
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range resp.GetResults() {
				if r.GetStatus() != eventv1.IngestResult_STATUS_ACCEPTED {
					b.Fatalf("stream: %v", r)
				}
			}
		}
		if err := <-sendErr; err != nil {
			b.Fatal(err)
		}
		streamTime += time.Since(start)

		// http: one producer, then benchHTTPClients concurrent producers
		start = time.Now()
		postBatch(b, web, fmt.Sprintf("http-%d", n), 0, benchEvents, properties, now)
		httpTime += time.Since(start)

		start = time.Now()
		var wg sync.WaitGroup
		per := benchEvents / benchHTTPClients
		for c := range benchHTTPClients {
			wg.Go(func() { postBatch(b, web, fmt.Sprintf("http%d-%d", c, n), c*per, per, properties, now) })
		}
		wg.Wait()
		concurrentTime += time.Since(start)
		if n == 0 {
			copyTime, streamTime, httpTime, concurrentTime = 0, 0, 0, 0
			b.ResetTimer()
		}
	}
	b.StopTimer()
	if err := stream.CloseSend(); err != nil {
		b.Fatal(err)
	}

	total := float64(b.N * benchEvents)
	copyRate, streamRate, httpRate := total/copyTime.Seconds(), total/streamTime.Seconds(), total/httpTime.Seconds()
	concurrentRate := total / concurrentTime.Seconds()
	b.ReportMetric(copyRate, "copy-events/s")
	b.ReportMetric(streamRate, "stream-events/s")
	b.ReportMetric(httpRate, "http-events/s")
	b.ReportMetric(streamRate/copyRate, "stream/copy")
	b.ReportMetric(httpRate/copyRate, "http/copy")
	b.ReportMetric(concurrentRate/copyRate, "http-concurrent/copy")
	b.Logf("%d events per path: copy %.0f events/s; gRPC stream %.0f events/s = %.2f× copy; HTTP /v1/batch %.0f events/s = %.2f× copy; "+
		"HTTP /v1/batch from %d concurrent producers %.0f events/s = %.2f× copy",
		b.N*benchEvents, copyRate, streamRate, streamRate/copyRate, httpRate, httpRate/copyRate, benchHTTPClients, concurrentRate, concurrentRate/copyRate)
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

func structFromJSON(raw json.RawMessage) (*structpb.Struct, error) {
	s := &structpb.Struct{}
	return s, protojson.Unmarshal(raw, s)
}

// postBatch posts count track events as one /v1/batch request, failing b
// unless every event is accepted.
func postBatch(b *testing.B, web *httptest.Server, prefix string, from, count int, properties json.RawMessage, now time.Time) {
	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i := from; i < from+count; i++ {
		if i > from {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"type":"track","messageId":"%s-%d","userId":"%s","event":"Product Viewed","properties":%s,"timestamp":%q}`,
			prefix, i, benchUser(i%benchProfiles), properties, now.Format(time.RFC3339Nano))
	}
	body.WriteString(`]}`)
	req, err := http.NewRequest(http.MethodPost, web.URL+"/v1/batch", &body)
	if err != nil {
		b.Error(err)
		return
	}
	req.SetBasicAuth("bench", "")
	resp, err := web.Client().Do(req)
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
