package cli

import (
	"github.com/spf13/cobra"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

func (a *app) profileCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Look up customer profiles"}
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
				t.row("TRAITS", compactJSON(p.GetTraits()))
				t.row("CREATED", formatTime(p.GetCreateTime(), p.GetCreateTime() != nil))
				t.row("UPDATED", formatTime(p.GetUpdateTime(), p.GetUpdateTime() != nil))
			})
		},
	})
	return cmd
}
