package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
)

// profileTraitsCommand lists the trait history of a person.
func (a *app) profileTraitsCommand() *cobra.Command {
	var (
		trait string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "traits IDENTIFIER|profiles/PROFILE [--trait KEY]",
		Short: "Show the history of a person's traits: each change, newest first, with the event that made it",
		Long: "Lists every change of the traits of the profile and of the profiles merged into it, newest first:\n" +
			"set, set_once ($set_once in identify traits), unset (a null value), merge (taken from a profile merged\n" +
			"in) and unmerge (restored when a profile was split back out), with the new value, the message id of\n" +
			"the event that carried it and the time it was observed.",
		Example: "  barista profile traits email:ana@example.com\n  barista profile traits email:ana@example.com --trait plan",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, id, err := personArg(args[0])
			if err != nil {
				return err
			}
			if limit < 1 {
				return errors.New("--limit must be at least 1")
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			client := profilev1.NewProfileServiceClient(conn)
			ctx, cancel := callCtx(cmd)
			defer cancel()
			req := &profilev1.ListTraitChangesRequest{Profile: name, Identifier: id, Trait: trait, PageSize: int32(min(limit, 1000))}
			items, next, err := collectPages(limit, func(token string) ([]*profilev1.TraitChange, string, error) {
				req.PageToken = token
				resp, err := client.ListTraitChanges(ctx, req)
				return resp.GetTraitChanges(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			all := &profilev1.ListTraitChangesResponse{TraitChanges: items, NextPageToken: next}
			return a.print(all, func(t *table) {
				if len(all.GetTraitChanges()) == 0 {
					t.row("no trait changes for " + args[0])
					return
				}
				t.row("TIME", "TRAIT", "OPERATION", "VALUE", "EVENT", "PROFILE")
				for _, c := range all.GetTraitChanges() {
					t.row(formatTime(c.GetChangeTime(), c.GetChangeTime() != nil), c.GetKey(), c.GetOperation(), traitValue(c.GetValue()),
						dash(c.GetSourceEvent()), c.GetProfile())
				}
			})
		},
	}
	cmd.Flags().StringVar(&trait, "trait", "", "only the changes of this trait")
	cmd.Flags().IntVar(&limit, "limit", 100, "maximum number of changes to list")
	return cmd
}

// traitValue renders a trait value as compact JSON; "-" for none (a
// removal).
func traitValue(v *structpb.Value) string {
	if v == nil {
		return "-"
	}
	b, err := protojson.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// traitSourceRows adds one row per trait of p saying how, when and from
// which event it last changed.
func traitSourceRows(t *table, p *profilev1.Profile) {
	for _, s := range p.GetTraitSources() {
		from := ""
		if s.GetSourceEvent() != "" {
			from = ", event " + s.GetSourceEvent()
		}
		t.row("TRAIT "+s.GetKey(), fmt.Sprintf("%s %s%s", s.GetOperation(), formatTime(s.GetChangeTime(), s.GetChangeTime() != nil), from))
	}
}
