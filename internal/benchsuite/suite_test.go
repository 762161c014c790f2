package benchsuite

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/barista-cdp/barista/internal/devserver"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/pgtest"
)

// stores are the two ways the suite keeps data; every benchmark runs
// against each.
var stores = []struct {
	name    string
	durable bool
}{{"postgres", true}, {"memory", false}}

// startSuite runs the whole suite in process, on a fresh Postgres database
// when durable, and returns conns client connections to it. Everything
// stops at the end of the benchmark.
func startSuite(b *testing.B, durable bool, conns int) []*grpc.ClientConn {
	b.Helper()
	cfg := devserver.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	if durable {
		cfg.DatabaseURL = pgtest.NewDatabase(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := devserver.New(ctx, cfg)
	require.NoError(b, err)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		require.NoError(b, <-done)
	})
	out := make([]*grpc.ClientConn, conns)
	for i := range out {
		out[i], err = grpcclient.Dial(srv.GRPCAddr)
		require.NoError(b, err)
		b.Cleanup(func() { out[i].Close() })
	}
	health := healthpb.NewHealthClient(out[0])
	waitFor(b, "the suite serving", func() bool {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	return out
}

// waitFor polls cond until it holds. The bound only stops a broken run; it
// measures nothing.
func waitFor(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loadSeconds is how long each open-loop load runs (see LoadSeconds).
func loadSeconds(b *testing.B) time.Duration {
	b.Helper()
	d, err := LoadSeconds()
	require.NoError(b, err)
	return d
}

// healthBaseline offers rate grpc.health.v1 Check calls per second for d,
// spread over conns, and returns the latency of each from its scheduled
// instant (the cost of a trivial unary RPC on this server at this rate)
// and how many failed (past the client's default deadline, when the
// server falls far behind).
func healthBaseline(b *testing.B, conns []*grpc.ClientConn, rate float64, d time.Duration) (Summary, int) {
	b.Helper()
	clients := make([]healthpb.HealthClient, len(conns))
	for i, c := range conns {
		clients[i] = healthpb.NewHealthClient(c)
	}
	var lat Latencies
	var wg sync.WaitGroup
	var failed atomic.Int64
	OpenLoop(context.Background(), rate, d, func(i int, at time.Time) {
		wg.Go(func() {
			_, err := clients[i%len(clients)].Check(context.Background(), &healthpb.HealthCheckRequest{})
			lat.Add(time.Since(at))
			if err != nil {
				failed.Add(1)
			}
		})
	})
	wg.Wait()
	return lat.Summary(), int(failed.Load())
}

// closedLoop runs workers goroutines calling call back to back for d and
// returns the latency of each call, the calls per second completed and how
// many failed: the capacity of the server for that call on this machine,
// which an offered rate above it can only queue behind.
func closedLoop(d time.Duration, workers int, call func(i int) error) (Summary, float64, int) {
	var lat Latencies
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := w; time.Since(start) < d; i += workers {
				t := time.Now()
				err := call(i)
				lat.Add(time.Since(t))
				done.Add(1)
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return lat.Summary(), float64(done.Load()) / time.Since(start).Seconds(), int(failed.Load())
}
