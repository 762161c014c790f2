package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

// parseDays reads a number of days written "365d" or "365"; "" is 0, the
// service's default.
func parseDays(flag, s string) (int32, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--%s %q: want a number of days such as 365d", flag, s)
	}
	return int32(n), nil
}

func (a *app) metricsStoreCommand() *cobra.Command {
	var end, window string
	cmd := &cobra.Command{
		Use:     "store",
		Short:   "Show the store's orders, revenue, average order value and order value percentiles",
		Example: "  barista metrics store\n  barista metrics store --window 90d --to 2025-06-30",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			days, err := parseDays("window", window)
			if err != nil {
				return err
			}
			client, err := a.metricsClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.GetStoreStatistics(ctx, &metricsv1.GetStoreStatisticsRequest{EndDate: end, WindowDays: days})
			if err != nil {
				return err
			}
			s := resp.GetStatistics()
			return a.print(resp, func(t *table) {
				t.row("RANGE", s.GetStartDate()+" to "+s.GetEndDate())
				t.row("ORDERS", s.GetOrders())
				t.row("REVENUE", fmt.Sprintf("%.2f", s.GetRevenue()))
				t.row("CUSTOMERS WITH ORDERS", s.GetCustomers())
				t.row("AVERAGE ORDER VALUE", fmt.Sprintf("%.2f", s.GetAverageOrderValue()))
				t.row("ORDER VALUE P25", fmt.Sprintf("%.2f", s.GetOrderValueP25()))
				t.row("ORDER VALUE P50", fmt.Sprintf("%.2f", s.GetOrderValueP50()))
				t.row("ORDER VALUE P75", fmt.Sprintf("%.2f", s.GetOrderValueP75()))
				t.row("ORDER VALUE P90", fmt.Sprintf("%.2f", s.GetOrderValueP90()))
				t.row("ORDER VALUE P99", fmt.Sprintf("%.2f", s.GetOrderValueP99()))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&end, "to", "", "last day (UTC), YYYY-MM-DD, included; default today")
	f.StringVar(&window, "window", "", "days in the window ending with --to, such as 90d; default 365d")
	return cmd
}

func (a *app) metricsCustomerCommand() *cobra.Command {
	var (
		end, window, horizon string
		discount             float64
	)
	cmd := &cobra.Command{
		Use:   "customer IDENTIFIER",
		Short: "Show what a customer is worth: RFM scores, revenue to date and predicted value",
		Long: "Resolves the identifier (or takes a profiles/ID name as is) through the profile service on --addr,\n" +
			"then shows the profile's recency, frequency and monetary quintiles (1 to 5, 5 best) over the window,\n" +
			"its revenue to date and, when the store has enough repeat customers, its BG/NBD and Gamma-Gamma\n" +
			"prediction over the horizon.",
		Example: "  barista metrics customer email:ana@example.com\n" +
			"  barista metrics customer profiles/0f8e... --window 180d --horizon 90d --discount 0.01",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			windowDays, err := parseDays("window", window)
			if err != nil {
				return err
			}
			horizonDays, err := parseDays("horizon", horizon)
			if err != nil {
				return err
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			profile := args[0]
			if !strings.HasPrefix(profile, "profiles/") {
				id, err := ident.Parse(profile)
				if err != nil {
					return err
				}
				found, err := profilev1.NewProfileServiceClient(conn).LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id})
				if err != nil {
					return err
				}
				profile = found.GetProfile().GetName()
			}
			resp, err := metricsv1.NewMetricsServiceClient(conn).GetProfileValue(ctx, &metricsv1.GetProfileValueRequest{
				Profile: profile, EndDate: end, WindowDays: windowDays, HorizonDays: horizonDays, MonthlyDiscountRate: discount,
			})
			if err != nil {
				return err
			}
			v := resp.GetValue()
			return a.print(resp, func(t *table) {
				r := v.GetRfm()
				t.row("PROFILE", v.GetProfile())
				t.row("RANGE", v.GetStartDate()+" to "+v.GetEndDate())
				if r.GetHasOrders() {
					t.row("RFM", fmt.Sprintf("%d%d%d (of %d customers)", r.GetRecencyScore(), r.GetFrequencyScore(), r.GetMonetaryScore(), r.GetCustomers()))
					t.row("RECENCY", fmt.Sprintf("%d days (score %d)", r.GetRecencyDays(), r.GetRecencyScore()))
					t.row("FREQUENCY", fmt.Sprintf("%d orders (score %d)", r.GetFrequency(), r.GetFrequencyScore()))
					t.row("MONETARY", fmt.Sprintf("%.2f (score %d)", r.GetMonetary(), r.GetMonetaryScore()))
				} else {
					t.row("RFM", fmt.Sprintf("no order in the range (%d customers)", r.GetCustomers()))
				}
				t.row("HISTORICAL CLV", fmt.Sprintf("%.2f (%d orders to date)", v.GetHistoricalClv(), v.GetOrdersToDate()))
				p := v.GetPrediction()
				if p == nil {
					t.row("PREDICTION", "unavailable: "+v.GetPredictionUnavailableReason())
					return
				}
				t.row("P(ALIVE)", fmt.Sprintf("%.3f", p.GetPAlive()))
				t.row(fmt.Sprintf("EXPECTED PURCHASES (%dd)", v.GetHorizonDays()), fmt.Sprintf("%.2f", p.GetExpectedPurchases()))
				t.row("EXPECTED AVERAGE SPEND", fmt.Sprintf("%.2f", p.GetExpectedAverageSpend()))
				t.row(fmt.Sprintf("PREDICTED CLV (%dd)", v.GetHorizonDays()), fmt.Sprintf("%.2f", p.GetPredictedClv()))
				t.row("MODEL", fmt.Sprintf("fitted on %d customers", p.GetFittedCustomers()))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&end, "to", "", "last day (UTC), YYYY-MM-DD, included; default today")
	f.StringVar(&window, "window", "", "days of the RFM window ending with --to, such as 180d; default 365d")
	f.StringVar(&horizon, "horizon", "", "days the prediction covers after --to, such as 90d; default 365d")
	f.Float64Var(&discount, "discount", 0, "discount rate per 30 days of the predicted value, from 0 to 1")
	return cmd
}
