package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/storegen"
)

// demoBatch is the number of events per ingest request, the most the event
// service takes.
const demoBatch = 1000

// demoResult is what `barista demo` reports; -o json prints it.
type demoResult struct {
	Customers   int            `json:"customers"`
	Days        int            `json:"days"`
	Seed        uint64         `json:"seed"`
	Start       time.Time      `json:"start"`
	End         time.Time      `json:"end"`
	Events      int            `json:"events"`
	Accepted    int            `json:"accepted"`
	Duplicate   int            `json:"duplicate"`
	Rejected    int            `json:"rejected"`
	Orders      int            `json:"orders"`
	Revenue     float64        `json:"revenue"`
	Profiles    int            `json:"profiles"`
	Seconds     float64        `json:"elapsed_seconds"`
	EventsPerS  float64        `json:"events_per_second"`
	Behaviors   map[string]int `json:"behaviors"`
	Segments    []demoSegment  `json:"segments,omitempty"`
	TruthFile   string         `json:"truth_file,omitempty"`
	firstErrors []string
}

// demoSegment is one segment's size after loading.
type demoSegment struct {
	Segment string  `json:"segment"`
	Members int     `json:"members"`
	Share   float64 `json:"share"`
}

func (a *app) demoCommand() *cobra.Command {
	var (
		customers, days  int
		seed             uint64
		truthFile, endAt string
		installTemplates bool
		settle           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo [--customers N] [--days D] [--seed S] [--truth FILE] [--install-templates]",
		Short: "Load a realistic synthetic store into a running suite",
		Long: `Generate a realistic online store and load it through the public ingest API:
customers of ten behavior types (window shoppers, cart abandoners, bargain
hunters, VIPs, at-risk, ...) browsing on several devices, signing up, ordering
with and without coupons, opening and clicking emails, reviewing products and
opening support tickets. The history ends at the start of the current hour, or
at --end.

The same seed always generates the same events with the same message ids, so
running the command again in the same hour stores nothing. Later, the history
moves with the clock and a few events differ (about 0.05% an hour later, 8% a
week later): those are stored, the rest are known by their message ids.

--install-templates installs every segment template after loading. When
segments exist, the command waits until their sizes settle and prints them.
--truth writes each customer's ground truth (behavior type, identifiers and how
they link, orders and revenue) as JSON Lines.`,
		Example: "  barista demo\n  barista demo --customers 10000 --days 365 --seed 7 --install-templates --truth truth.jsonl",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if customers <= 0 {
				return fmt.Errorf("--customers %d: want at least 1", customers)
			}
			if days <= 0 {
				return fmt.Errorf("--days %d: want at least 1", days)
			}
			// The start of the current hour: runs within the hour generate
			// identical stores.
			end := time.Now().UTC().Truncate(time.Hour)
			if endAt != "" {
				t, err := time.Parse(time.RFC3339, endAt)
				if err != nil {
					return fmt.Errorf("--end %q: use RFC 3339, such as 2026-11-01T10:00:00Z", endAt)
				}
				end = t.UTC()
			}
			cfg := storegen.Config{Customers: customers, Start: end.Add(-time.Duration(days) * 24 * time.Hour), End: end, Seed: seed}
			res := &demoResult{Customers: customers, Days: days, Seed: seed, Start: cfg.Start, End: cfg.End, TruthFile: truthFile}
			if err := a.demoLoad(cmd, cfg, res); err != nil {
				return err
			}
			if installTemplates {
				if err := a.demoInstallTemplates(cmd); err != nil {
					return err
				}
			}
			var err error
			if res.Profiles, err = a.demoCountProfiles(cmd); err != nil {
				return err
			}
			if res.Segments, err = a.demoSegmentSizes(cmd, res.Profiles, settle); err != nil {
				return err
			}
			return a.demoPrint(res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&customers, "customers", 1000, "number of customers")
	f.IntVar(&days, "days", 180, "days of history, ending now")
	f.Uint64Var(&seed, "seed", 1, "random seed; the same seed generates the same store")
	f.StringVar(&truthFile, "truth", "", "write the ground truth of every customer to this file (JSON Lines)")
	f.StringVar(&endAt, "end", "", "when the store's history ends, RFC 3339 (default: the start of the current hour)")
	f.BoolVar(&installTemplates, "install-templates", false, "install every segment template after loading")
	f.DurationVar(&settle, "settle", 2*time.Second, "how long segment sizes must stay unchanged before they are printed")
	return cmd
}

// demoLoad generates the store and streams it to the event service,
// reporting progress on stderr.
func (a *app) demoLoad(cmd *cobra.Command, cfg storegen.Config, res *demoResult) (err error) {
	conn, err := a.client()
	if err != nil {
		return err
	}
	var truth func(storegen.Truth) error
	if res.TruthFile != "" {
		f, err := os.Create(res.TruthFile)
		if err != nil {
			return fmt.Errorf("--truth: %w", err)
		}
		w := bufio.NewWriter(f)
		defer func() {
			if ferr := w.Flush(); err == nil && ferr != nil {
				err = fmt.Errorf("--truth: %w", ferr)
			}
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("--truth: %w", cerr)
			}
		}()
		truth = func(t storegen.Truth) error { return storegen.WriteTruth(w, t) }
	}

	// Cancelling ends the stream when generation fails half way.
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	stream, err := eventv1.NewEventServiceClient(conn).IngestEventStream(ctx)
	if err != nil {
		return err
	}
	started := time.Now()
	var acked atomic.Int64
	recvDone := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				recvDone <- nil
				return
			}
			if err != nil {
				recvDone <- err
				return
			}
			for _, r := range resp.GetResults() {
				switch r.GetStatus() {
				case eventv1.IngestResult_STATUS_ACCEPTED:
					res.Accepted++
				case eventv1.IngestResult_STATUS_DUPLICATE:
					res.Duplicate++
				default:
					res.Rejected++
					if len(res.firstErrors) < 3 {
						res.firstErrors = append(res.firstErrors, fmt.Sprintf("%s: %s", r.GetMessageId(), fieldError(r)))
					}
				}
			}
			acked.Add(int64(len(resp.GetResults())))
		}
	}()

	lastReport := time.Now()
	progress := func(final bool) {
		if final || time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			done := acked.Load()
			fmt.Fprintf(a.errOut, "demo: %d events sent, %d acknowledged (%.0f events/s)\n",
				res.Events, done, float64(done)/time.Since(started).Seconds())
		}
	}
	batch := make([]*eventv1.Event, 0, demoBatch)
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&eventv1.IngestEventStreamRequest{Events: batch})
		batch = make([]*eventv1.Event, 0, demoBatch)
		progress(false)
		return err
	}
	summary, genErr := storegen.Generate(cfg, func(ev *eventv1.Event) error {
		res.Events++
		batch = append(batch, ev)
		if len(batch) == demoBatch {
			return send()
		}
		return nil
	}, truth)
	if genErr == nil {
		genErr = send()
	}
	if genErr == nil {
		genErr = stream.CloseSend()
	}
	if genErr != nil && !errors.Is(genErr, io.EOF) {
		cancel()
	}
	// A send fails with io.EOF when the server ended the stream; the cause
	// comes from Recv.
	recvErr := <-recvDone
	switch {
	case genErr != nil && !errors.Is(genErr, io.EOF):
		return genErr
	case recvErr != nil:
		return fmt.Errorf("ingest: %w", recvErr)
	}
	progress(true)
	elapsed := time.Since(started)
	res.Seconds = elapsed.Seconds()
	res.EventsPerS = float64(res.Events) / elapsed.Seconds()
	res.Orders, res.Revenue = summary.Orders, summary.Revenue
	res.Behaviors = map[string]int{}
	for b, n := range summary.Behaviors {
		res.Behaviors[string(b)] = n
	}
	return nil
}

// demoInstallTemplates installs every template with the command that
// `barista segment templates install --all` runs, its table left out.
func (a *app) demoInstallTemplates(cmd *cobra.Command) error {
	quiet := *a
	quiet.out = io.Discard
	install := quiet.segmentTemplatesInstallCommand()
	install.SetArgs([]string{"--all", "--reason", "installed by barista demo"})
	install.SetOut(io.Discard)
	install.SetErr(a.errOut)
	install.SilenceErrors, install.SilenceUsage = true, true
	fmt.Fprintln(a.errOut, "demo: installing the segment templates")
	if err := install.ExecuteContext(cmd.Context()); err != nil {
		return fmt.Errorf("install templates: %w", err)
	}
	return nil
}

// demoCountProfiles counts the profiles of the profile service.
func (a *app) demoCountProfiles(cmd *cobra.Command) (int, error) {
	conn, err := a.client()
	if err != nil {
		return 0, err
	}
	client := profilev1.NewProfileServiceClient(conn)
	n := 0
	for token := ""; ; {
		ctx, cancel := callCtx(cmd)
		resp, err := client.ListProfiles(ctx, &profilev1.ListProfilesRequest{PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return 0, err
		}
		n += len(resp.GetProfiles())
		if token = resp.GetNextPageToken(); token == "" {
			return n, nil
		}
	}
}

// demoSegmentSizes counts the members of every segment once the counts
// have stayed unchanged for settle: the segment service applies events
// asynchronously, so right after loading it may still be catching up.
func (a *app) demoSegmentSizes(cmd *cobra.Command, profiles int, settle time.Duration) ([]demoSegment, error) {
	client, err := a.segmentClient()
	if err != nil {
		return nil, err
	}
	var segments []string
	for token := ""; ; {
		ctx, cancel := callCtx(cmd)
		resp, err := client.ListSegments(ctx, &segmentv1.ListSegmentsRequest{PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return nil, err
		}
		for _, s := range resp.GetSegments() {
			segments = append(segments, s.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(segments) == 0 {
		return nil, nil
	}
	count := func() ([]int, error) {
		sizes := make([]int, len(segments))
		for k, name := range segments {
			for token := ""; ; {
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: name, PageSize: 1000, PageToken: token})
				cancel()
				if err != nil {
					return nil, err
				}
				sizes[k] += len(resp.GetMemberships())
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
		}
		return sizes, nil
	}
	fmt.Fprintln(a.errOut, "demo: waiting for segment sizes to settle")
	const poll = 500 * time.Millisecond
	deadline := time.Now().Add(2 * time.Minute)
	sizes, err := count()
	if err != nil {
		return nil, err
	}
	stable := time.Duration(0)
	for stable < settle && time.Now().Before(deadline) {
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-time.After(poll):
		}
		next, err := count()
		if err != nil {
			return nil, err
		}
		if equalInts(next, sizes) {
			stable += poll
		} else {
			stable = 0
		}
		sizes = next
	}
	if stable < settle {
		fmt.Fprintln(a.errOut, "demo: segment sizes are still changing; these are the latest")
	}
	out := make([]demoSegment, len(segments))
	for k, name := range segments {
		out[k] = demoSegment{Segment: segmentID(name), Members: sizes[k]}
		if profiles > 0 {
			out[k].Share = float64(sizes[k]) / float64(profiles)
		}
	}
	return out, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// demoPrint writes the summary: a few lines and the segment table, or JSON.
func (a *app) demoPrint(res *demoResult) error {
	for _, e := range res.firstErrors {
		fmt.Fprintln(a.errOut, "demo: rejected:", e)
	}
	if a.output == "json" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(a.out, string(b))
		return err
	}
	fmt.Fprintf(a.out, "Loaded a store of %d customers over %d days (seed %d), %s to %s\n", res.Customers, res.Days, res.Seed,
		res.Start.Format(time.DateOnly), res.End.Format(time.DateOnly))
	t := &table{w: tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)}
	t.row("  events", fmt.Sprintf("%d sent: %d accepted, %d duplicate, %d rejected", res.Events, res.Accepted, res.Duplicate, res.Rejected))
	t.row("  elapsed", fmt.Sprintf("%.1fs (%.0f events/s)", res.Seconds, res.EventsPerS))
	t.row("  orders", fmt.Sprintf("%d, revenue %.2f", res.Orders, res.Revenue))
	t.row("  profiles", res.Profiles)
	if res.TruthFile != "" {
		t.row("  truth", res.TruthFile)
	}
	if err := t.w.Flush(); err != nil {
		return err
	}
	if len(res.Segments) == 0 {
		_, err := fmt.Fprintln(a.out, "\nNo segments yet: run again with --install-templates, or see \"barista segment templates\".")
		return err
	}
	fmt.Fprintln(a.out)
	t = &table{w: tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)}
	t.row("SEGMENT", "MEMBERS", "SHARE")
	for _, s := range res.Segments {
		t.row(s.Segment, s.Members, fmt.Sprintf("%.1f%%", 100*s.Share))
	}
	if err := t.w.Flush(); err != nil {
		return err
	}
	if res.Rejected > 0 {
		return fmt.Errorf("%d events rejected", res.Rejected)
	}
	return nil
}
