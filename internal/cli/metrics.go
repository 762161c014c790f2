package cli

import (
	"github.com/spf13/cobra"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
)

func (a *app) metricsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "metrics", Short: "See how segments perform"}
	cmd.AddCommand(&cobra.Command{
		Use:     "segment ID",
		Short:   "Show a segment's size and its daily movement",
		Example: "  barista metrics segment buyers",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := metricsv1.NewMetricsServiceClient(conn).GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: segmentName(args[0])})
			if err != nil {
				return err
			}
			m := resp.GetMetrics()
			return a.print(resp, func(t *table) {
				t.row("SEGMENT", m.GetSegment())
				t.row("SIZE", m.GetSize())
				t.row("ENTERED (ALL TIME)", m.GetEnteredTotal())
				t.row("EXITED (ALL TIME)", m.GetExitedTotal())
				t.row("UPDATED", formatTime(m.GetUpdateTime(), m.GetUpdateTime() != nil))
				if len(m.GetHistory()) > 0 {
					t.row("")
					t.row("DATE", "ENTERED", "EXITED", "SIZE")
					for _, p := range m.GetHistory() {
						t.row(p.GetDate(), p.GetEntered(), p.GetExited(), p.GetSize())
					}
				}
			})
		},
	})
	return cmd
}
