package cli

import (
	"github.com/spf13/cobra"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
)

func (a *app) segmentArchiveCommand() *cobra.Command {
	var author, reason string
	cmd := &cobra.Command{
		Use:   "archive ID --author WHO --reason WHY",
		Short: "Archive a segment: stop evaluating it and let its members exit",
		Long: `Archive a segment in a new revision: it is no longer evaluated, its members
exit with the reason "segment archived", and "barista segment list" hides it
(--archived shows it). Its definition, revisions and membership changes stay
readable. A segment that other segments test with in_segment cannot be
archived until they no longer do.`,
		Example: `  barista segment archive summer-sale --author ana@example.com --reason "campaign over"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.ArchiveSegment(ctx, &segmentv1.ArchiveSegmentRequest{Name: segmentName(args[0]), Author: author, Reason: reason})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) { segmentRows(t, resp.GetSegment()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&author, "author", "", "who archives the segment, such as an email address (required)")
	f.StringVar(&reason, "reason", "", "why the segment is archived (required)")
	_ = cmd.MarkFlagRequired("author")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}
