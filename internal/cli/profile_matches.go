package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
)

// matchStates maps the --state values of "profile matches list" to states.
var matchStates = map[string]profilev1.MatchCandidateState{
	"all":      profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_UNSPECIFIED,
	"pending":  profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_PENDING,
	"merged":   profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_MERGED,
	"accepted": profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_ACCEPTED,
	"rejected": profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_REJECTED,
}

// profileMatchesCommand works the review queue of probabilistic matching.
func (a *app) profileMatchesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "matches", Short: "Review probable matches between profiles found by probabilistic matching"}
	cmd.AddCommand(a.profileMatchesListCommand(), a.profileMatchesReviewCommand(true), a.profileMatchesReviewCommand(false))
	return cmd
}

func (a *app) profileMatchesListCommand() *cobra.Command {
	var (
		state string
		limit int
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List match candidates, oldest first (pending ones by default)",
		Example: "  barista profile matches list\n  barista profile matches list --state merged -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, ok := matchStates[state]
			if !ok {
				return fmt.Errorf("--state must be one of all, pending, merged, accepted, rejected; got %q", state)
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
			req := &profilev1.ListMatchCandidatesRequest{State: st, PageSize: int32(min(limit, 1000))}
			items, next, err := collectPages(limit, func(token string) ([]*profilev1.MatchCandidate, string, error) {
				req.PageToken = token
				resp, err := client.ListMatchCandidates(ctx, req)
				return resp.GetMatchCandidates(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			all := &profilev1.ListMatchCandidatesResponse{MatchCandidates: items, NextPageToken: next}
			return a.print(all, func(t *table) {
				if len(all.GetMatchCandidates()) == 0 {
					t.row("no " + state + " match candidates")
					return
				}
				t.row("CANDIDATE", "STATE", "SCORE", "PROFILES", "AGREED ON", "CONFLICTS", "PROPOSED", "REVIEWED", "REASON")
				for _, c := range all.GetMatchCandidates() {
					t.row(c.GetName(), candidateState(c.GetState()), fmt.Sprintf("%.1f", c.GetScore()), strings.Join(c.GetProfiles(), " "),
						dash(strings.Join(c.GetAgreements(), ", ")), dash(strings.Join(c.GetConflicts(), ", ")),
						formatTime(c.GetCreateTime(), c.GetCreateTime() != nil), formatTime(c.GetReviewTime(), c.GetReviewTime() != nil),
						dash(c.GetReviewReason()))
				}
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "pending", "all, pending, merged, accepted or rejected")
	cmd.Flags().IntVar(&limit, "limit", 100, "maximum number of candidates to list")
	return cmd
}

// profileMatchesReviewCommand is "accept" (merge the pair) or "reject"
// (never propose it again).
func (a *app) profileMatchesReviewCommand(accept bool) *cobra.Command {
	var reason string
	use, short := "reject", "Reject a match candidate: the pair is never proposed again"
	if accept {
		use, short = "accept", "Accept a match candidate: merge its profiles (rule probabilistic; undo with unmerge)"
	}
	cmd := &cobra.Command{
		Use:     use + " CANDIDATE --reason TEXT",
		Short:   short,
		Example: fmt.Sprintf("  barista profile matches %s matchCandidates/12 --reason \"checked order history\"\n  barista profile matches %s 12 --reason \"...\"", use, use),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !strings.HasPrefix(name, "matchCandidates/") {
				name = "matchCandidates/" + name
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := profilev1.NewProfileServiceClient(conn).ReviewMatchCandidate(ctx, &profilev1.ReviewMatchCandidateRequest{Name: name, Accept: accept, Reason: reason})
			if err != nil {
				return err
			}
			c := resp.GetMatchCandidate()
			return a.print(resp, func(t *table) {
				t.row("CANDIDATE", c.GetName())
				t.row("STATE", candidateState(c.GetState()))
				t.row("PROFILES", strings.Join(c.GetProfiles(), " "))
				if !accept {
					return
				}
				t.row("PROFILE", resp.GetProfile().GetName())
				if m := resp.GetMerge(); m != nil {
					t.row("MERGED", m.GetMerged())
				} else {
					t.row("MERGED", "- (the profiles were already one)")
				}
				t.row("IDENTIFIERS", identifiers(resp.GetProfile().GetIdentifiers()))
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded with the review and, on accept, in the merge log)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func candidateState(s profilev1.MatchCandidateState) string {
	for name, st := range matchStates {
		if st == s && name != "all" {
			return name
		}
	}
	return "unknown"
}
