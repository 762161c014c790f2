package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

// profileConsentCommand shows or records the consents of a profile.
func (a *app) profileConsentCommand() *cobra.Command {
	var (
		sets   []string
		source string
		at     string
	)
	cmd := &cobra.Command{
		Use:   "consent IDENTIFIER [--set PURPOSE=granted|denied ... --source SOURCE]",
		Short: "Show or record a profile's consent per purpose (analytics, email, sms, personalization)",
		Example: "  barista profile consent email:ana@example.com\n" +
			"  barista profile consent email:ana@example.com --set email=granted --set sms=denied --source signup-form",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ident.Parse(args[0])
			if err != nil {
				return err
			}
			var when *timestamppb.Timestamp
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--time %q: want RFC 3339, such as 2026-03-01T09:00:00Z", at)
				}
				when = timestamppb.New(t)
			}
			var consents []*profilev1.Consent
			for _, s := range sets {
				purpose, answer, ok := strings.Cut(s, "=")
				status := map[string]profilev1.ConsentStatus{
					"granted": profilev1.ConsentStatus_CONSENT_STATUS_GRANTED,
					"denied":  profilev1.ConsentStatus_CONSENT_STATUS_DENIED,
				}[strings.ToLower(answer)]
				if !ok || status == profilev1.ConsentStatus_CONSENT_STATUS_UNSPECIFIED {
					return fmt.Errorf("--set %q: want PURPOSE=granted or PURPOSE=denied, such as email=granted", s)
				}
				consents = append(consents, &profilev1.Consent{Purpose: purpose, Status: status, Source: source, ConsentTime: when})
			}
			if len(consents) == 0 && (cmd.Flags().Changed("source") || at != "") {
				return fmt.Errorf("--source and --time go with --set")
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			client := profilev1.NewProfileServiceClient(conn)
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp := &profilev1.GetConsentResponse{}
			if len(consents) > 0 {
				set, err := client.SetConsent(ctx, &profilev1.SetConsentRequest{Identifier: id, Consents: consents})
				if err != nil {
					return err
				}
				resp.Profile, resp.Consents = set.GetProfile(), set.GetConsents()
			} else if resp, err = client.GetConsent(ctx, &profilev1.GetConsentRequest{Identifier: id}); err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.row("PROFILE", resp.GetProfile())
				if len(resp.GetConsents()) == 0 {
					t.row("CONSENT", "none recorded")
					return
				}
				t.row("PURPOSE", "STATUS", "SOURCE", "TIME")
				for _, c := range resp.GetConsents() {
					status := strings.ToLower(strings.TrimPrefix(c.GetStatus().String(), "CONSENT_STATUS_"))
					t.row(c.GetPurpose(), status, c.GetSource(), formatTime(c.GetConsentTime(), c.GetConsentTime() != nil))
				}
			})
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "record PURPOSE=granted or PURPOSE=denied (repeatable)")
	cmd.Flags().StringVar(&source, "source", "barista-cli", "where the answers came from, such as signup-form")
	cmd.Flags().StringVar(&at, "time", "", "when the person answered, RFC 3339; default now")
	return cmd
}
