package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
)

func triggerName(id string) string {
	return "triggers/" + strings.TrimPrefix(id, "triggers/")
}

// kindWord is the CLI's word for a kind of change.
func kindWord(k segmentv1.MembershipChange_Kind) string {
	if k == segmentv1.MembershipChange_KIND_EXITED {
		return "exit"
	}
	return "enter"
}

func (a *app) segmentTriggersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "triggers",
		Short: "List the webhook triggers on segment enter/exit",
		Long: `List the webhook triggers: a signed POST when profiles enter or exit a segment,
optionally after a delay and only if the change still holds then, retried
with backoff. Create one with "barista segment triggers create"; see what was
sent with "barista segment triggers deliveries".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			all := &segmentv1.ListTriggersResponse{}
			for token := ""; ; {
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListTriggers(ctx, &segmentv1.ListTriggersRequest{PageSize: 1000, PageToken: token})
				cancel()
				if err != nil {
					return err
				}
				all.Triggers = append(all.Triggers, resp.GetTriggers()...)
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			return a.print(all, func(t *table) {
				t.row("TRIGGER", "SEGMENT", "ON", "DELAY", "URL")
				for _, tr := range all.GetTriggers() {
					t.row(strings.TrimPrefix(tr.GetName(), "triggers/"), segmentID(tr.GetSegment()), kindWord(tr.GetOn()),
						tr.GetDelay().AsDuration(), tr.GetUrl())
				}
			})
		},
	}
	cmd.AddCommand(a.segmentTriggersCreateCommand(), a.segmentTriggersDeliveriesCommand())
	return cmd
}

func (a *app) segmentTriggersCreateCommand() *cobra.Command {
	var seg, on, url, secret, consent string
	var delay time.Duration
	cmd := &cobra.Command{
		Use:   "create ID --segment ID --on enter|exit --url URL --secret KEY [--delay 4h] [--require-consent email]",
		Short: "Create a webhook trigger",
		Long: `Create a webhook trigger. After the delay the profile is re-checked: the POST is
sent only if it is still a member (enter) or still not a member (exit). The body
is JSON; the Barista-Signature header is "t=<unix seconds>,v1=<hex HMAC-SHA256
of "<t>.<body>" keyed by the secret>"; Barista-Delivery holds the delivery id,
the same on every retry. With --require-consent, profiles that have not granted
that consent purpose when the webhook is due are skipped (the delivery log says
why).`,
		Example: `  barista segment triggers create cart-reminder --segment cart-abandoners --on enter --delay 4h \
    --url https://hooks.example.com/barista --secret "$(openssl rand -hex 32)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kinds := map[string]segmentv1.MembershipChange_Kind{"enter": segmentv1.MembershipChange_KIND_ENTERED, "exit": segmentv1.MembershipChange_KIND_EXITED}
			kind, ok := kinds[on]
			if !ok {
				return fmt.Errorf("%w: --on is enter or exit, not %q", errArgs, on)
			}
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := client.CreateTrigger(ctx, &segmentv1.CreateTriggerRequest{TriggerId: args[0], Trigger: &segmentv1.Trigger{
				Segment: segmentName(seg), On: kind, Delay: durationpb.New(delay), Url: url, Secret: secret, RequiredConsent: consent,
			}})
			if err != nil {
				return err
			}
			tr := resp.GetTrigger()
			return a.print(resp, func(t *table) {
				t.row("TRIGGER", tr.GetName())
				t.row("SEGMENT", tr.GetSegment())
				t.row("ON", kindWord(tr.GetOn()))
				t.row("DELAY", tr.GetDelay().AsDuration())
				t.row("URL", tr.GetUrl())
				if c := tr.GetRequiredConsent(); c != "" {
					t.row("CONSENT", c)
				}
				t.row("CREATED", formatTime(tr.GetCreateTime(), tr.GetCreateTime() != nil))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&seg, "segment", "", "segment id")
	f.StringVar(&on, "on", "enter", "enter or exit")
	f.DurationVar(&delay, "delay", 0, "how long after the change to re-check and send, such as 4h")
	f.StringVar(&url, "url", "", "http or https URL that receives the POST")
	f.StringVar(&secret, "secret", "", "HMAC-SHA256 key, 16 to 256 characters")
	f.StringVar(&consent, "require-consent", "", "consent purpose profiles must have granted: analytics, email, sms or personalization")
	for _, name := range []string{"segment", "url", "secret"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func (a *app) segmentTriggersDeliveriesCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "deliveries ID [--limit N]",
		Short:   "Show the delivery log of a trigger, newest first",
		Example: "  barista segment triggers deliveries cart-reminder",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.segmentClient()
			if err != nil {
				return err
			}
			all := &segmentv1.ListTriggerDeliveriesResponse{}
			for token := ""; len(all.Deliveries) < limit; {
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListTriggerDeliveries(ctx, &segmentv1.ListTriggerDeliveriesRequest{
					Trigger: triggerName(args[0]), PageSize: int32(min(1000, limit-len(all.Deliveries))), PageToken: token,
				})
				cancel()
				if err != nil {
					return err
				}
				all.Deliveries = append(all.Deliveries, resp.GetDeliveries()...)
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			return a.print(all, func(t *table) {
				t.row("DELIVERY", "PROFILE", "KIND", "STATE", "ATTEMPTS", "STATUS", "DUE", "ERROR")
				for _, d := range all.GetDeliveries() {
					id := d.GetName()[strings.LastIndex(d.GetName(), "/")+1:]
					state := strings.ToLower(strings.TrimPrefix(d.GetState().String(), "STATE_"))
					t.row(id, d.GetProfile(), kindWord(d.GetKind()), state, d.GetAttempts(), d.GetLastStatus(),
						formatTime(d.GetDueTime(), d.GetDueTime() != nil), dash(d.GetLastError()))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "how many deliveries to show")
	return cmd
}
