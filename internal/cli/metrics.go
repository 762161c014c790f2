package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
)

func (a *app) metricsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "metrics", Short: "See how segments perform and what customers are worth"}
	cmd.AddCommand(a.metricsSegmentCommand(), a.metricsCompareCommand(), a.metricsMigrationCommand(), a.metricsExperimentCommand(),
		a.metricsCustomerCommand(), a.metricsStoreCommand())
	return cmd
}

// metricsClient returns a MetricsService client on the suite's connection.
func (a *app) metricsClient() (metricsv1.MetricsServiceClient, error) {
	conn, err := a.client()
	if err != nil {
		return nil, err
	}
	return metricsv1.NewMetricsServiceClient(conn), nil
}

// rangeFlags adds --from and --to, the first and last day of a range.
func rangeFlags(cmd *cobra.Command, from, to *string) {
	cmd.Flags().StringVar(from, "from", "", "first day (UTC), YYYY-MM-DD; default 29 days before --to")
	cmd.Flags().StringVar(to, "to", "", "last day (UTC), YYYY-MM-DD, included; default today")
}

func (a *app) metricsSegmentCommand() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:     "segment ID",
		Short:   "Show how a segment performed over a range of days, next to all profiles",
		Example: "  barista metrics segment buyers\n  barista metrics segment buyers --from 2025-06-01 --to 2025-06-30",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.metricsClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			current, err := client.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: segmentName(args[0])})
			if err != nil {
				return err
			}
			resp, err := client.GetSegmentReport(ctx, &metricsv1.GetSegmentReportRequest{Segment: segmentName(args[0]), StartDate: from, EndDate: to})
			if err != nil {
				return err
			}
			r, m := resp.GetReport(), current.GetMetrics()
			return a.print(resp, func(t *table) {
				t.row("SEGMENT", r.GetSegment())
				t.row("SIZE NOW", m.GetSize())
				t.row("ENTERED (ALL TIME)", m.GetEnteredTotal())
				t.row("EXITED (ALL TIME)", m.GetExitedTotal())
				t.row("UPDATED", formatTime(m.GetUpdateTime(), m.GetUpdateTime() != nil))
				t.row("RANGE", r.GetStartDate()+" to "+r.GetEndDate())
				t.row("SIZE", fmt.Sprintf("%d to %d", r.GetStartSize(), r.GetEndSize()))
				t.row("")
				populationRows(t, []string{"MEMBERS", "ALL PROFILES"}, []*metricsv1.Population{r.GetMembers(), r.GetAllProfiles()})
				t.row("")
				t.row("DATE", "ENTERED", "EXITED", "NET", "SIZE")
				for _, p := range r.GetHistory() {
					t.row(p.GetDate(), p.GetEntered(), p.GetExited(), p.GetNet(), p.GetSize())
				}
			})
		},
	}
	rangeFlags(cmd, &from, &to)
	return cmd
}

// populationRows writes one row per KPI and one column per population.
func populationRows(t *table, names []string, ps []*metricsv1.Population) {
	t.row(append([]any{"KPI"}, toAny(names)...)...)
	kpi := func(name string, value func(p *metricsv1.Population) string) {
		row := []any{name}
		for _, p := range ps {
			row = append(row, value(p))
		}
		t.row(row...)
	}
	count := func(f func(p *metricsv1.Population) int64) func(p *metricsv1.Population) string {
		return func(p *metricsv1.Population) string { return fmt.Sprint(f(p)) }
	}
	kpi("PROFILES", count((*metricsv1.Population).GetProfiles))
	kpi("MEMBER-DAYS", count((*metricsv1.Population).GetMemberDays))
	kpi("CONVERSION", func(p *metricsv1.Population) string {
		return fmt.Sprintf("%s (%d)", percent(p.GetConversionRate()), p.GetConverted())
	})
	kpi("ORDERS", count((*metricsv1.Population).GetOrders))
	kpi("ORDERS PER PROFILE", func(p *metricsv1.Population) string { return fmt.Sprintf("%.2f", p.GetOrdersPerProfile()) })
	kpi("REVENUE", func(p *metricsv1.Population) string { return fmt.Sprintf("%.2f", p.GetRevenue()) })
	kpi("REVENUE SHARE", func(p *metricsv1.Population) string { return percent(p.GetRevenueShare()) })
	kpi("AVERAGE ORDER VALUE", func(p *metricsv1.Population) string { return fmt.Sprintf("%.2f", p.GetAverageOrderValue()) })
	kpi("EMAIL OPEN RATE", func(p *metricsv1.Population) string { return percent(p.GetOpenRate()) })
	kpi("EMAIL CLICK RATE", func(p *metricsv1.Population) string { return percent(p.GetClickRate()) })
	kpi("UNSUBSCRIBE RATE", func(p *metricsv1.Population) string { return percent(p.GetUnsubscribeRate()) })
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func percent(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

func (a *app) metricsCompareCommand() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:     "compare ID...",
		Short:   "Compare segments side by side over a range of days",
		Example: "  barista metrics compare buyers vip --from 2025-06-01 --to 2025-06-30",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.metricsClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			req := &metricsv1.CompareSegmentsRequest{StartDate: from, EndDate: to}
			for _, id := range args {
				req.Segments = append(req.Segments, segmentName(id))
			}
			resp, err := client.CompareSegments(ctx, req)
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				reports := resp.GetReports()
				names := make([]string, 0, len(reports)+1)
				ps := make([]*metricsv1.Population, 0, len(reports)+1)
				sizes := []any{"SIZE AT END"}
				for _, r := range reports {
					names = append(names, strings.TrimPrefix(r.GetSegment(), "segments/"))
					ps = append(ps, r.GetMembers())
					sizes = append(sizes, r.GetEndSize())
				}
				names = append(names, "ALL PROFILES")
				ps = append(ps, reports[0].GetAllProfiles())
				t.row("RANGE", reports[0].GetStartDate()+" to "+reports[0].GetEndDate())
				t.row("")
				populationRows(t, names, ps)
				t.row(append(sizes, "-")...)
			})
		},
	}
	rangeFlags(cmd, &from, &to)
	return cmd
}

func (a *app) metricsMigrationCommand() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migration --from DATE --to DATE ID...",
		Short: "Show where the members of segments went between two days",
		Long: "Counts the profiles in each segment (or in none of them) at the end of --from by the group they are\n" +
			"in at the end of --to; each cell shows the count and the share of its row.",
		Example: "  barista metrics migration --from 2025-05-31 --to 2025-06-30 bronze silver gold",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.metricsClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			req := &metricsv1.GetSegmentMigrationRequest{FromDate: from, ToDate: to}
			for _, id := range args {
				req.Segments = append(req.Segments, segmentName(id))
			}
			resp, err := client.GetSegmentMigration(ctx, req)
			if err != nil {
				return err
			}
			short := func(g string) string { return strings.TrimPrefix(g, "segments/") }
			return a.print(resp, func(t *table) {
				header := []any{"FROM " + resp.GetFromDate() + " \\ TO " + resp.GetToDate(), "PROFILES"}
				for _, g := range resp.GetGroups() {
					header = append(header, strings.ToUpper(short(g)))
				}
				t.row(header...)
				for _, r := range resp.GetRows() {
					row := []any{short(r.GetFrom()), r.GetProfiles()}
					for _, c := range r.GetCells() {
						row = append(row, fmt.Sprintf("%d (%s)", c.GetCount(), percent(c.GetRate())))
					}
					t.row(row...)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the day moved from (UTC), YYYY-MM-DD: membership at its end")
	f.StringVar(&to, "to", "", "the day moved to (UTC), YYYY-MM-DD: membership at its end")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func (a *app) metricsExperimentCommand() *cobra.Command {
	var (
		from, to, profile string
		holdout           float64
	)
	cmd := &cobra.Command{
		Use:   "experiment ID",
		Short: "Hold out a share of a segment's members and measure what the campaigns add",
		Long: "Without flags, compares the conversion of the segment's treated members with that of its holdout group\n" +
			"(two-proportion z-test, 95% confidence interval of the lift). --holdout sets the share held out first;\n" +
			"--profile tells whether one profile is held out instead.",
		Example: "  barista metrics experiment buyers --holdout 0.1\n" +
			"  barista metrics experiment buyers --profile profiles/0f8e...\n" +
			"  barista metrics experiment buyers --from 2025-06-01 --to 2025-06-30",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.metricsClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			name := segmentName(args[0]) + "/experiment"
			if cmd.Flags().Changed("holdout") {
				_, err := client.UpdateExperiment(ctx, &metricsv1.UpdateExperimentRequest{
					Experiment: &metricsv1.Experiment{Name: name, HoldoutShare: holdout},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"holdout_share"}},
				})
				if err != nil {
					return err
				}
			}
			if profile != "" {
				if !strings.HasPrefix(profile, "profiles/") {
					profile = "profiles/" + profile
				}
				resp, err := client.CheckHoldout(ctx, &metricsv1.CheckHoldoutRequest{Experiment: name, Profile: profile})
				if err != nil {
					return err
				}
				return a.print(resp, func(t *table) {
					t.row("PROFILE", profile)
					t.row("HOLDOUT", resp.GetHoldout())
					t.row("BUCKET", fmt.Sprintf("%.6f", resp.GetBucket()))
				})
			}
			resp, err := client.AnalyzeExperiment(ctx, &metricsv1.AnalyzeExperimentRequest{Experiment: name, StartDate: from, EndDate: to})
			if err != nil {
				return err
			}
			an := resp.GetAnalysis()
			return a.print(resp, func(t *table) {
				t.row("EXPERIMENT", an.GetExperiment())
				t.row("HOLDOUT SHARE", percent(an.GetHoldoutShare()))
				t.row("RANGE", an.GetStartDate()+" to "+an.GetEndDate())
				t.row("")
				t.row("GROUP", "MEMBERS", "CONVERTED", "CONVERSION")
				for _, g := range []struct {
					name string
					arm  *metricsv1.ExperimentArm
				}{{"treatment", an.GetTreatment()}, {"holdout", an.GetHoldout()}} {
					t.row(g.name, g.arm.GetProfiles(), g.arm.GetConverted(), percent(g.arm.GetConversionRate()))
				}
				t.row("")
				t.row("LIFT", fmt.Sprintf("%+.2f points", 100*an.GetLift()))
				t.row("95% CI", fmt.Sprintf("%+.2f to %+.2f points", 100*an.GetLiftCiLow(), 100*an.GetLiftCiHigh()))
				t.row("Z", fmt.Sprintf("%.3f", an.GetZ()))
				t.row("P-VALUE", fmt.Sprintf("%.4f", an.GetPValue()))
				t.row("SIGNIFICANT (P < 0.05)", an.GetSignificant())
			})
		},
	}
	rangeFlags(cmd, &from, &to)
	cmd.Flags().Float64Var(&holdout, "holdout", 0, "set the share of members held out first, from 0 to 0.5")
	cmd.Flags().StringVar(&profile, "profile", "", "tell whether this profile (profiles/ID) is held out")
	return cmd
}
