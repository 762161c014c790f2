package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

// profileRulesCommand shows the merge rules the profile service runs with.
func (a *app) profileRulesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rules",
		Short:   "Show the identity merge rules in force",
		Example: "  barista profile rules\n  barista profile rules -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := profilev1.NewProfileServiceClient(conn).GetMergeRules(ctx, &profilev1.GetMergeRulesRequest{})
			if err != nil {
				return err
			}
			r := resp.GetRules()
			return a.print(resp, func(t *table) {
				t.row("PRIORITY", strings.Join(r.GetPriority(), " > "))
				for _, l := range r.GetLimits() {
					window := "ever"
					if l.GetWindow() != nil {
						window = "per " + l.GetWindow().AsDuration().String()
					}
					t.row("LIMIT", fmt.Sprintf("at most %d %s %s", l.GetMax(), l.GetType(), window))
				}
				for _, b := range r.GetBlocked() {
					t.row("BLOCKED", blockedText(b))
				}
				t.row("BUILT-IN JUNK", fmt.Sprintf("%t (%d values and patterns)", r.GetBuiltinJunk(), len(r.GetBuiltinBlocked())))
				t.row("SHARED TYPES", dash(strings.Join(r.GetSharedTypes(), ", ")))
			})
		},
	}
	cmd.AddCommand(a.profileRulesPreviewCommand())
	return cmd
}

// profileRulesPreviewCommand dry-runs a rules file over the stored graph.
func (a *app) profileRulesPreviewCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "preview FILE",
		Short:   "Dry-run a merge rules file (YAML or JSON) over the stored profiles",
		Example: "  barista profile rules preview rules.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := profilev1.NewProfileServiceClient(conn).PreviewMergeRules(ctx, &profilev1.PreviewMergeRulesRequest{Rules: string(text)})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.row("PROFILES EXAMINED", resp.GetProfilesExamined())
				t.row("PROFILES TO SPLIT", resp.GetProfilesToSplit())
				t.row("IDENTIFIERS TO UNLINK", resp.GetIdentifiersToUnlink())
				t.row("MERGES TO REFUSE", resp.GetMergesToRefuse())
				t.row("SAMPLE", dash(strings.Join(resp.GetSampleProfiles(), ", ")))
				t.row("PROFILES TO MERGE", resp.GetProfilesToMerge())
				t.row("REFUSED JOINS TO MAKE", resp.GetJoinsToMake())
				t.row("SAMPLE TO MERGE", dash(strings.Join(resp.GetSampleMergedProfiles(), ", ")))
			})
		},
	}
}

func blockedText(b *profilev1.BlockedValue) string {
	typ := b.GetType()
	if typ == "" {
		typ = "any type"
	}
	if b.GetPattern() != "" {
		return fmt.Sprintf("%s matching /%s/", typ, b.GetPattern())
	}
	return fmt.Sprintf("%s = %q", typ, b.GetValue())
}

// profileMergesCommand lists the merge log of the profile holding an
// identifier.
func (a *app) profileMergesCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "merges IDENTIFIER",
		Short:   "Show the merge log of the profile that holds an identifier",
		Example: "  barista profile merges email:ana@example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ident.Parse(args[0])
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
			found, err := client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id})
			if err != nil {
				return err
			}
			req := &profilev1.ListMergesRequest{Parent: found.GetProfile().GetName(), PageSize: int32(min(limit, 1000))}
			items, next, err := collectPages(limit, func(token string) ([]*profilev1.Merge, string, error) {
				req.PageToken = token
				resp, err := client.ListMerges(ctx, req)
				return resp.GetMerges(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			all := &profilev1.ListMergesResponse{Merges: items, NextPageToken: next}
			return a.print(all, func(t *table) {
				if len(all.GetMerges()) == 0 {
					t.row("no merges for " + found.GetProfile().GetName())
					return
				}
				t.row("TIME", "RULE", "SURVIVOR", "MERGED", "TRIGGER", "MOVED", "UNMERGED", "REASON")
				for _, m := range all.GetMerges() {
					t.row(formatTime(m.GetMergeTime(), m.GetMergeTime() != nil), m.GetRule(), m.GetSurvivor(), m.GetMerged(),
						identifiers(m.GetTriggerIdentifiers()), identifiers(m.GetIdentifiers()),
						formatTime(m.GetUnmergeTime(), m.GetUnmergeTime() != nil), m.GetReason())
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "maximum number of merges to list")
	return cmd
}

// profileMergeCommand merges the profiles of two identifiers by hand.
func (a *app) profileMergeCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "merge IDENTIFIER IDENTIFIER --reason TEXT",
		Short:   "Merge the profiles of two identifiers (recorded in the merge log)",
		Example: `  barista profile merge email:ana@example.com anonymous_id:a-77 --reason "support ticket 123"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]*typev1.Identifier, len(args))
			for i, arg := range args {
				id, err := ident.Parse(arg)
				if err != nil {
					return err
				}
				ids[i] = id
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := profilev1.NewProfileServiceClient(conn).MergeProfiles(ctx, &profilev1.MergeProfilesRequest{Identifiers: ids, Reason: reason})
			if err != nil {
				return err
			}
			p := resp.GetProfile()
			return a.print(resp, func(t *table) {
				t.row("PROFILE", p.GetName())
				if m := resp.GetMerge(); m != nil {
					t.row("MERGED", m.GetMerged())
				} else {
					t.row("MERGED", "- (the identifiers were already on one profile)")
				}
				t.row("IDENTIFIERS", identifiers(p.GetIdentifiers()))
				t.row("TRAITS", compactJSON(p.GetTraits()))
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the profiles are one person; recorded in the merge log (required)")
	return cmd
}

// profileUnmergeCommand splits a merged profile back out.
func (a *app) profileUnmergeCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "unmerge PROFILE",
		Short:   "Split a merged profile back out of the profile it was merged into",
		Long:    "Split a merged profile back out of the profile it was merged into: the identifiers that moved with the merge\ngo back and the traits are restored. PROFILE is the merged profile's name (see `barista profile merges`).\nThe other services follow: the events go back with their identifiers, and each profile's segment memberships\nand metrics are recomputed from its events.",
		Example: "  barista profile unmerge profiles/0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !strings.HasPrefix(name, "profiles/") {
				name = "profiles/" + name
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := profilev1.NewProfileServiceClient(conn).UnmergeProfile(ctx, &profilev1.UnmergeProfileRequest{Name: name})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.row("PROFILE", resp.GetProfile().GetName())
				t.row("IDENTIFIERS", dash(identifiers(resp.GetProfile().GetIdentifiers())))
				t.row("TRAITS", compactJSON(resp.GetProfile().GetTraits()))
				t.row("SURVIVOR", resp.GetSurvivor().GetName())
				t.row("SURVIVOR IDENTIFIERS", dash(identifiers(resp.GetSurvivor().GetIdentifiers())))
				t.row("SURVIVOR TRAITS", compactJSON(resp.GetSurvivor().GetTraits()))
			})
		},
	}
}
