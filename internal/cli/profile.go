package cli

import (
	"strings"

	"github.com/spf13/cobra"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

func (a *app) profileCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Look up customer profiles, their merges, consent and the merge rules"}
	cmd.AddCommand(&cobra.Command{
		Use:     "get IDENTIFIER",
		Short:   "Show the profile that holds an identifier",
		Example: "  barista profile get email:ana@example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ident.Parse(args[0])
			if err != nil {
				return err
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := profilev1.NewProfileServiceClient(conn).LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id})
			if err != nil {
				return err
			}
			p := resp.GetProfile()
			return a.print(resp, func(t *table) {
				t.row("PROFILE", p.GetName())
				t.row("IDENTIFIERS", identifiers(p.GetIdentifiers()))
				t.row("SHARED", dash(identifiers(p.GetSharedIdentifiers())))
				t.row("TRAITS", compactJSON(p.GetTraits()))
				traitSourceRows(t, p)
				t.row("CONSENT", consentSummary(p.GetConsents()))
				t.row("CREATED", formatTime(p.GetCreateTime(), p.GetCreateTime() != nil))
				t.row("UPDATED", formatTime(p.GetUpdateTime(), p.GetUpdateTime() != nil))
			})
		},
	})
	cmd.AddCommand(a.profileRulesCommand(), a.profileMergesCommand(), a.profileMergeCommand(), a.profileUnmergeCommand(), a.profileConsentCommand(),
		a.profileDeleteCommand(), a.profileExportCommand(), a.profileMatchesCommand(), a.profileTraitsCommand())
	return cmd
}

// consentSummary renders consents as "email=granted, sms=denied".
func consentSummary(consents []*profilev1.Consent) string {
	parts := make([]string, len(consents))
	for i, c := range consents {
		parts[i] = c.GetPurpose() + "=" + strings.ToLower(strings.TrimPrefix(c.GetStatus().String(), "CONSENT_STATUS_"))
	}
	return dash(strings.Join(parts, ", "))
}
