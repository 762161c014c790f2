package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
)

func (a *app) segmentCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "segment", Short: "Define segments and see their members"}
	cmd.AddCommand(a.segmentCreateCommand(), a.segmentUpdateCommand(), a.segmentGetCommand(), a.segmentListCommand(),
		a.segmentPreviewCommand(), a.segmentMembersCommand(), a.segmentOfCommand(), a.segmentHistoryCommand(), a.segmentChangesCommand(), a.segmentArchiveCommand(), a.segmentWatchCommand(),
		a.segmentTemplatesCommand(), a.segmentTriggersCommand())
	return cmd
}

func segmentName(id string) string {
	return "segments/" + strings.TrimPrefix(id, "segments/")
}

func segmentID(name string) string {
	return strings.TrimPrefix(name, "segments/")
}

func (a *app) segmentClient() (segmentv1.SegmentServiceClient, error) {
	conn, err := a.client()
	if err != nil {
		return nil, err
	}
	return segmentv1.NewSegmentServiceClient(conn), nil
}

func (a *app) segmentCreateCommand() *cobra.Command {
	var seg segmentv1.Segment
	var author, reason string
	cmd := &cobra.Command{
		Use:     "create ID --condition CEL",
		Short:   "Create a segment and evaluate every profile against it",
		Example: `  barista segment create buyers --condition 'count("Order Completed", "90d") >= 1' --description "Ordered in the last 90 days"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: args[0], Segment: &seg, Author: author, Reason: reason})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) { segmentRows(t, resp.GetSegment()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&seg.Condition, "condition", "", `CEL condition, such as 'count("Order Completed", "90d") >= 1'`)
	f.StringVar(&seg.DisplayName, "display-name", "", "human-readable name")
	f.StringVar(&seg.Description, "description", "", "what the segment is for")
	f.StringVar(&seg.ExclusiveGroup, "group", "", "exclusive group: a profile is a member of only the first segment of a group it matches")
	f.Int32Var(&seg.Priority, "priority", 0, "place in the exclusive group, lowest first")
	f.StringVar(&author, "author", "", "who creates the segment, recorded with revision 1")
	f.StringVar(&reason, "reason", "", "why the segment is created, recorded with revision 1")
	_ = cmd.MarkFlagRequired("condition")
	return cmd
}

func (a *app) segmentUpdateCommand() *cobra.Command {
	var seg segmentv1.Segment
	var author, reason string
	cmd := &cobra.Command{
		Use:   "update ID --author WHO --reason WHY [--condition CEL] [--display-name NAME] [--description TEXT] [--group G] [--priority N]",
		Short: "Change a segment's definition as a new revision and re-evaluate every profile",
		Long: `Change a segment's definition. Only the flags given are changed. Each update is a
new revision that records who made it and why; earlier revisions stay readable
with "barista segment history" and "barista segment get --revision". A new
condition is evaluated against every profile at once, and the members it adds
or removes are recorded with the reason "segment updated".`,
		Example: `  barista segment update buyers --condition 'count("Order Completed", "90d") >= 2' --author ana@example.com --reason "repeat buyers only"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var paths []string
			for flag, path := range map[string]string{"condition": "condition", "display-name": "display_name", "description": "description",
				"group": "exclusive_group", "priority": "priority"} {
				if cmd.Flags().Changed(flag) {
					paths = append(paths, path)
				}
			}
			if len(paths) == 0 {
				return errors.New("nothing to update: give --condition, --display-name, --description, --group or --priority")
			}
			slices.Sort(paths)
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			seg.Name = segmentName(args[0])
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{
				Segment: &seg, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}, Author: author, Reason: reason,
			})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) { segmentRows(t, resp.GetSegment()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&seg.Condition, "condition", "", "new CEL condition")
	f.StringVar(&seg.DisplayName, "display-name", "", "new human-readable name")
	f.StringVar(&seg.Description, "description", "", "new description")
	f.StringVar(&seg.ExclusiveGroup, "group", "", `new exclusive group; "" for none`)
	f.Int32Var(&seg.Priority, "priority", 0, "new place in the exclusive group, lowest first")
	f.StringVar(&author, "author", "", "who makes the change, such as an email address (required)")
	f.StringVar(&reason, "reason", "", "why the change is made (required)")
	_ = cmd.MarkFlagRequired("author")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func (a *app) segmentHistoryCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "history ID",
		Short:   "List the revisions of a segment's definition, newest first",
		Example: "  barista segment history buyers",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			all := &segmentv1.ListSegmentRevisionsResponse{}
			for token := ""; ; {
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListSegmentRevisions(ctx, &segmentv1.ListSegmentRevisionsRequest{Segment: segmentName(args[0]), PageSize: 1000, PageToken: token})
				cancel()
				if err != nil {
					return err
				}
				all.Revisions = append(all.Revisions, resp.GetRevisions()...)
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			return a.print(all, func(t *table) {
				t.row("REVISION", "TIME", "AUTHOR", "REASON", "CONDITION")
				for _, r := range all.GetRevisions() {
					t.row(r.GetRevision(), formatTime(r.GetUpdateTime(), r.GetUpdateTime() != nil), dash(r.GetRevisionAuthor()),
						dash(r.GetRevisionReason()), r.GetCondition())
				}
			})
		},
	}
}

func (a *app) segmentPreviewCommand() *cobra.Command {
	var req segmentv1.PreviewSegmentRequest
	cmd := &cobra.Command{
		Use:     "preview --condition CEL [--sample N]",
		Short:   "Show how many profiles a condition would hold now, without saving a segment",
		Example: `  barista segment preview --condition 'count("Order Completed", "90d") >= 3 && sum("Order Completed", "revenue", "90d") > 200.0'`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.PreviewSegment(ctx, &req)
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.row("SIZE", resp.GetSize())
				t.row("PROFILES", resp.GetTotalProfiles())
				t.row("SHARE", fmt.Sprintf("%.1f%%", 100*resp.GetShare()))
				t.row("SAMPLE", dash(strings.Join(resp.GetSampleProfiles(), " ")))
			})
		},
	}
	cmd.Flags().StringVar(&req.Condition, "condition", "", `CEL condition, such as 'count("Order Completed", "90d") >= 1'`)
	cmd.Flags().Int32Var(&req.SampleSize, "sample", 10, "how many members to show, at most 100")
	_ = cmd.MarkFlagRequired("condition")
	return cmd
}

func segmentRows(t *table, s *segmentv1.Segment) {
	t.row("SEGMENT", s.GetName())
	t.row("DISPLAY NAME", dash(s.GetDisplayName()))
	t.row("DESCRIPTION", dash(s.GetDescription()))
	t.row("CONDITION", s.GetCondition())
	if s.GetExclusiveGroup() != "" {
		t.row("GROUP", fmt.Sprintf("%s (priority %d)", s.GetExclusiveGroup(), s.GetPriority()))
	}
	t.row("REVISION", s.GetRevision())
	t.row("CREATED", formatTime(s.GetCreateTime(), s.GetCreateTime() != nil))
	t.row("UPDATED", formatTime(s.GetUpdateTime(), s.GetUpdateTime() != nil))
	t.row("AUTHOR", dash(s.GetRevisionAuthor()))
	t.row("REASON", dash(s.GetRevisionReason()))
	if s.GetArchiveTime() != nil {
		t.row("ARCHIVED", formatTime(s.GetArchiveTime(), true))
	}
}

func (a *app) segmentGetCommand() *cobra.Command {
	var revision int64
	cmd := &cobra.Command{
		Use:   "get ID [--revision N]",
		Short: "Show a segment's definition, current or at a past revision",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: segmentName(args[0]), Revision: revision})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) { segmentRows(t, resp.GetSegment()) })
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "a past revision; the current one when 0")
	return cmd
}

func (a *app) segmentListCommand() *cobra.Command {
	var showArchived bool
	cmd := &cobra.Command{
		Use:   "list [--archived]",
		Short: "List segments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			all := &segmentv1.ListSegmentsResponse{}
			for token := ""; ; {
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListSegments(ctx, &segmentv1.ListSegmentsRequest{PageSize: 1000, PageToken: token, ShowArchived: showArchived})
				cancel()
				if err != nil {
					return err
				}
				all.Segments = append(all.Segments, resp.GetSegments()...)
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			return a.print(all, func(t *table) {
				if !showArchived {
					t.row("ID", "REVISION", "CONDITION", "DESCRIPTION")
					for _, s := range all.GetSegments() {
						t.row(segmentID(s.GetName()), s.GetRevision(), s.GetCondition(), dash(s.GetDescription()))
					}
					return
				}
				t.row("ID", "REVISION", "ARCHIVED", "CONDITION", "DESCRIPTION")
				for _, s := range all.GetSegments() {
					t.row(segmentID(s.GetName()), s.GetRevision(), formatTime(s.GetArchiveTime(), s.GetArchiveTime() != nil),
						s.GetCondition(), dash(s.GetDescription()))
				}
			})
		},
	}
	cmd.Flags().BoolVar(&showArchived, "archived", false, "list archived segments too")
	return cmd
}

func (a *app) segmentMembersCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "members ID",
		Short: "List a segment's current members",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			all := &segmentv1.ListSegmentMembersResponse{}
			for token := ""; len(all.Memberships) < limit; {
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{
					Segment: segmentName(args[0]), PageSize: int32(min(limit-len(all.Memberships), 1000)), PageToken: token,
				})
				cancel()
				if err != nil {
					return err
				}
				all.Memberships = append(all.Memberships, resp.GetMemberships()...)
				all.NextPageToken = resp.GetNextPageToken()
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			return a.print(all, func(t *table) {
				t.row("PROFILE", "ENTERED", "REVISION")
				for _, m := range all.GetMemberships() {
					t.row(m.GetProfile(), formatTime(m.GetEnterTime(), m.GetEnterTime() != nil), m.GetSegmentRevision())
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 1000, "maximum number of members to list")
	return cmd
}

func (a *app) segmentOfCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "of IDENTIFIER|profiles/PROFILE",
		Short:   "List the segments a customer is in",
		Example: "  barista segment of email:ana@example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, id, err := personArg(args[0])
			if err != nil {
				return err
			}
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: name, Identifier: id})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.row("SEGMENT", "ENTERED", "REVISION")
				for _, m := range resp.GetMemberships() {
					t.row(segmentID(m.GetSegment()), formatTime(m.GetEnterTime(), m.GetEnterTime() != nil), m.GetSegmentRevision())
				}
			})
		},
	}
}

func (a *app) segmentWatchCommand() *cobra.Command {
	var after string
	var segments []string
	cmd := &cobra.Command{
		Use:   "watch [--segment ID]... [--after CURSOR]",
		Short: "Stream membership changes as they happen",
		Long: `Stream membership changes, from the first ever recorded (or after --after), then
follow new changes until interrupted. Each line carries a cursor: pass it as
--after to resume without losing or repeating a change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			req := &segmentv1.WatchMembershipChangesRequest{AfterCursor: after}
			for _, s := range segments {
				req.Segments = append(req.Segments, segmentName(s))
			}
			stream, err := client.WatchMembershipChanges(cmd.Context(), req)
			if err != nil {
				return err
			}
			if a.output == "table" {
				fmt.Fprintln(a.out, "CURSOR\tTIME\tCHANGE\tSEGMENT\tPROFILE\tREASON")
			}
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) || cmd.Context().Err() != nil {
					return nil
				}
				if err != nil {
					return err
				}
				for _, c := range resp.GetChanges() {
					if a.output == "json" {
						if err := a.printJSON(c); err != nil {
							return err
						}
						continue
					}
					kind := strings.ToLower(strings.TrimPrefix(c.GetKind().String(), "KIND_"))
					fmt.Fprintf(a.out, "%s\t%s\t%s\t%s\t%s\t%s\n", c.GetCursor(), formatTime(c.GetChangeTime(), c.GetChangeTime() != nil),
						kind, segmentID(c.GetSegment()), c.GetProfile(), dash(c.GetReason()))
				}
			}
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "resume after this cursor")
	cmd.Flags().StringArrayVar(&segments, "segment", nil, "only changes of this segment (repeatable)")
	return cmd
}
