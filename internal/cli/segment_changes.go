package cli

import (
	"strings"

	"github.com/spf13/cobra"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

func (a *app) segmentChangesCommand() *cobra.Command {
	var profile string
	var limit int
	cmd := &cobra.Command{
		Use:   "changes ID [--profile IDENTIFIER]",
		Short: "List the membership changes of a segment, oldest first",
		Long: `List who entered and exited a segment, when, under which revision of its
definition and why, oldest first. With --profile, only the changes of that
customer, found by any identifier. "barista segment history" lists the
revisions of the definition instead.`,
		Example: "  barista segment changes buyers\n  barista segment changes buyers --profile email:ana@example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &segmentv1.ListMembershipChangesRequest{Segment: segmentName(args[0])}
			if profile != "" {
				id, err := ident.Parse(profile)
				if err != nil {
					return err
				}
				req.Identifier = id
			}
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			all := &segmentv1.ListMembershipChangesResponse{}
			for len(all.Changes) < limit {
				req.PageSize = int32(min(limit-len(all.Changes), 1000))
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListMembershipChanges(ctx, req)
				cancel()
				if err != nil {
					return err
				}
				all.Changes = append(all.Changes, resp.GetChanges()...)
				if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
					break
				}
			}
			return a.print(all, func(t *table) {
				t.row("CURSOR", "TIME", "CHANGE", "PROFILE", "REVISION", "REASON")
				for _, c := range all.GetChanges() {
					kind := strings.ToLower(strings.TrimPrefix(c.GetKind().String(), "KIND_"))
					t.row(c.GetCursor(), formatTime(c.GetChangeTime(), c.GetChangeTime() != nil), kind, c.GetProfile(),
						c.GetSegmentRevision(), dash(c.GetReason()))
				}
			})
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "only the changes of the customer with this identifier, such as email:ana@example.com")
	cmd.Flags().IntVar(&limit, "limit", 1000, "maximum number of changes to list")
	return cmd
}
