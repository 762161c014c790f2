package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
)

// templateID returns the id of a template, the last part of its name.
func templateID(name string) string {
	return strings.TrimPrefix(name, "segmentTemplates/")
}

// listTemplates reads every segment template, in the order in which
// creating them works.
func (a *app) listTemplates(cmd *cobra.Command, client segmentv1.SegmentServiceClient) (*segmentv1.ListSegmentTemplatesResponse, error) {
	all := &segmentv1.ListSegmentTemplatesResponse{}
	for token := ""; ; {
		ctx, cancel := callCtx(cmd)
		resp, err := client.ListSegmentTemplates(ctx, &segmentv1.ListSegmentTemplatesRequest{PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return nil, err
		}
		all.Templates = append(all.Templates, resp.GetTemplates()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

func (a *app) segmentTemplatesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "List the built-in segment templates",
		Long: `List the built-in segment templates: a precise definition for each segment a
store commonly needs (lifecycle stages, browsing and purchase behavior, review
sentiment, RFM cells). Install them with "barista segment templates install".`,
		Example: "  barista segment templates\n  barista segment templates install cart-abandoners vip\n  barista segment templates install --all",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			all, err := a.listTemplates(cmd, client)
			if err != nil {
				return err
			}
			return a.print(all, func(t *table) {
				t.row("TEMPLATE", "CATEGORY", "GROUP", "CONDITION", "DESCRIPTION")
				for _, tpl := range all.GetTemplates() {
					s := tpl.GetSegment()
					group := "-"
					if s.GetExclusiveGroup() != "" {
						group = fmt.Sprintf("%s #%d", s.GetExclusiveGroup(), s.GetPriority())
					}
					t.row(templateID(tpl.GetName()), tpl.GetCategory(), group, s.GetCondition(), s.GetDescription())
				}
			})
		},
	}
	cmd.AddCommand(a.segmentTemplatesInstallCommand())
	return cmd
}

func (a *app) segmentTemplatesInstallCommand() *cobra.Command {
	var all bool
	var author, reason string
	cmd := &cobra.Command{
		Use:   "install NAME... | --all",
		Short: "Create segments from templates",
		Long: `Create a segment from each template named, or from every template with --all,
in the order the templates are listed (a template that tests another with
in_segment comes after it). A segment that already exists is left as it is.`,
		Example: "  barista segment templates install cart-abandoners\n  barista segment templates install --all --author ana@example.com",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return fmt.Errorf("%w: name the templates to install, or give --all", errArgs)
			}
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			templates, err := a.listTemplates(cmd, client)
			if err != nil {
				return err
			}
			var ids []string
			for _, tpl := range templates.GetTemplates() {
				ids = append(ids, templateID(tpl.GetName()))
			}
			for _, name := range args {
				if !slices.Contains(ids, name) {
					return fmt.Errorf("no template %q; the templates are %s", name, strings.Join(ids, ", "))
				}
			}
			out := &segmentv1.ListSegmentsResponse{}
			var results []string
			for _, tpl := range templates.GetTemplates() {
				id := templateID(tpl.GetName())
				if !all && !slices.Contains(args, id) {
					continue
				}
				ctx, cancel := callCtx(cmd)
				resp, err := client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
					SegmentId: id, Segment: tpl.GetSegment(), Author: author, Reason: reason,
				})
				cancel()
				switch {
				case status.Code(err) == codes.AlreadyExists:
					results = append(results, "exists, left as it is")
					out.Segments = append(out.Segments, tpl.GetSegment())
				case err != nil:
					return fmt.Errorf("template %s: %w", id, err)
				default:
					results = append(results, "created")
					out.Segments = append(out.Segments, resp.GetSegment())
				}
			}
			return a.print(out, func(t *table) {
				t.row("SEGMENT", "RESULT")
				for i, s := range out.GetSegments() {
					t.row(segmentID(s.GetName()), results[i])
				}
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "install every template")
	f.StringVar(&author, "author", "", "who installs them, recorded with revision 1")
	f.StringVar(&reason, "reason", "installed from a template", "why, recorded with revision 1")
	return cmd
}
