package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/pgtest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the four service binaries once per test run.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "barista-e2e-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
			"github.com/barista-cdp/barista/services/event/cmd/event",
			"github.com/barista-cdp/barista/services/profile/cmd/profile",
			"github.com/barista-cdp/barista/services/segment/cmd/segment",
			"github.com/barista-cdp/barista/services/metrics/cmd/metrics")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// process is one running service binary.
type process struct {
	name string
	addr string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	return lis.Addr().String()
}

// startProcess starts a service binary serving on addr and waits until its
// health check reports SERVING.
func startProcess(t *testing.T, name, addr string, args ...string) *process {
	t.Helper()
	p := &process{name: name, addr: addr, logs: &bytes.Buffer{}, done: make(chan struct{})}
	base := []string{"--grpc-addr", addr, "--http-addr", ""}
	if !slices.Contains(args, "--auth-file") {
		base = append(base, "--insecure-no-auth")
	}
	p.cmd = exec.Command(filepath.Join(binaries(t), name), append(base, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.logs.String())
		}
	})
	conn, err := grpcclient.Dial(addr)
	require.NoError(t, err)
	defer conn.Close()
	waitServing(t, conn)
	return p
}

// stop sends sig and waits for the process to exit.
func (p *process) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	<-p.done
}

func migrate(t *testing.T, name, databaseURL string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binaries(t), name), "migrate", "--database-url", databaseURL).CombinedOutput()
	require.NoError(t, err, "%s migrate: %s", name, out)
}

// TestSeparateProcessesNeverLoseAcknowledgedEvents runs each service as its
// own process on Postgres. Events acknowledged while the segment service is
// crashed (SIGKILL) and the metrics service is stopped reach both once they
// are back, and are applied once.
func TestSeparateProcessesNeverLoseAcknowledgedEvents(t *testing.T) {
	db := pgtest.NewDatabase(t)
	for _, name := range []string{"profile", "event", "segment", "metrics"} {
		migrate(t, name, db)
		migrate(t, name, db) // a second run is a no-op
	}
	dbArgs := []string{"--database-url", db}
	profileAddr, eventAddr, segmentAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	startProcess(t, "profile", profileAddr, dbArgs...)
	startProcess(t, "event", eventAddr, append(dbArgs, "--profile-addr", profileAddr)...)
	segmentArgs := append(dbArgs, "--event-addr", eventAddr, "--profile-addr", profileAddr, "--metrics-addr", metricsAddr)
	metricsArgs := append(dbArgs, "--segment-addr", segmentAddr, "--event-addr", eventAddr)
	segment := startProcess(t, "segment", segmentAddr, segmentArgs...)
	metrics := startProcess(t, "metrics", metricsAddr, metricsArgs...)
	s := dialSuite(t, eventAddr, profileAddr, segmentAddr, metricsAddr)
	ctx := context.Background()

	_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed", "90d") >= 1`},
	})
	require.NoError(t, err)

	segment.stop(syscall.SIGKILL)
	metrics.stop(syscall.SIGTERM)

	const customers = 20
	for i := range customers {
		resp := ingest(t, s, &eventv1.Event{
			MessageId: fmt.Sprintf("order-%d", i), Event: "Order Completed",
			Identifiers: []*typev1.Identifier{id("user_id", fmt.Sprintf("customer-%d", i))},
		})
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus(), resp.GetResults()[0].GetError())
	}

	startProcess(t, "segment", segmentAddr, segmentArgs...)
	startProcess(t, "metrics", metricsAddr, metricsArgs...)

	eventually(t, "every customer in buyers", func() bool {
		resp, err := s.metrics.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: "segments/buyers"})
		return err == nil && resp.GetMetrics().GetSize() == customers
	})
	members, err := s.segment.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers", PageSize: 100})
	require.NoError(t, err)
	require.Len(t, members.GetMemberships(), customers)
	m, err := s.metrics.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: "segments/buyers"})
	require.NoError(t, err)
	require.EqualValues(t, customers, m.GetMetrics().GetEnteredTotal(), "each entry counted once")
	require.Zero(t, m.GetMetrics().GetExitedTotal())
}
