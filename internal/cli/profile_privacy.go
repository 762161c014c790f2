package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

// personArg reads the argument naming a person: "profiles/{profile}" or an
// identifier "type:value".
func personArg(arg string) (name string, id *typev1.Identifier, err error) {
	if strings.HasPrefix(arg, "profiles/") {
		return arg, nil, nil
	}
	id, err = ident.Parse(arg)
	return "", id, err
}

// profileDeleteCommand erases a person.
func (a *app) profileDeleteCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete IDENTIFIER|profiles/PROFILE --yes",
		Short: "Erase a person from every service and suppress their identifiers (cannot be undone)",
		Long: "Erases the profile that holds IDENTIFIER and every profile merged into it: identifiers, traits,\n" +
			"consents and merge log entries. The event, segment and metrics services delete the person's events,\n" +
			"memberships and values when they read the erasure from the profile change log. The erased identifiers\n" +
			"are kept only as keyed hashes, so that they never create or join a profile again; events that carry\n" +
			"nothing else are rejected. Erasure cannot be undone, so --yes is required.",
		Example: "  barista profile delete email:ana@example.com --yes",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, id, err := personArg(args[0])
			if err != nil {
				return err
			}
			if !yes {
				return fmt.Errorf("erasing %s cannot be undone: run again with --yes", args[0])
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := profilev1.NewProfileServiceClient(conn).DeleteProfile(ctx, &profilev1.DeleteProfileRequest{Profile: name, Identifier: id})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.row("ERASED", resp.GetProfile())
				t.row("PROFILES", strings.Join(resp.GetErasedProfiles(), ", "))
				t.row("IDENTIFIERS", dash(identifiers(resp.GetIdentifiers()))+" (now suppressed)")
				t.row("CONSENTS", resp.GetConsentsErased())
				t.row("MERGES", fmt.Sprintf("%d erased, %d scrubbed", resp.GetMergesErased(), resp.GetMergesScrubbed()))
				t.row("TIME", formatTime(resp.GetEraseTime(), resp.GetEraseTime() != nil))
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the erasure")
	return cmd
}

// profileExportCommand writes everything held on a person as one JSON
// document.
func (a *app) profileExportCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export IDENTIFIER|profiles/PROFILE [--file PATH]",
		Short: "Export everything held on a person, from every service, as one JSON document",
		Long: "Writes one JSON document with what the profile service holds (profile, merged profiles, identifiers,\n" +
			"consents with source and time, merge log, trait history), the person's events (all of them), their segment\n" +
			"memberships and membership history, and their customer value metrics.",
		Example: "  barista profile export email:ana@example.com --file ana.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, id, err := personArg(args[0])
			if err != nil {
				return err
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			doc, err := exportPerson(cmd.Context(), conn, name, id)
			if err != nil {
				return err
			}
			out, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				return err
			}
			out = append(out, '\n')
			if file == "" {
				_, err = a.out.Write(out)
				return err
			}
			return os.WriteFile(file, out, 0o600)
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "write the document to this file (mode 0600) instead of standard output")
	return cmd
}

// personExport is the document barista profile export writes. Each part is
// the protojson of the service's response.
type personExport struct {
	Profile           json.RawMessage   `json:"profile"`
	Events            []json.RawMessage `json:"events"`
	Memberships       []json.RawMessage `json:"segmentMemberships"`
	MembershipChanges []json.RawMessage `json:"segmentMembershipChanges"`
	Value             json.RawMessage   `json:"customerValue"`
}

func exportPerson(ctx context.Context, conn grpc.ClientConnInterface, name string, id *typev1.Identifier) (*personExport, error) {
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, callTimeout) }
	c, cancel := call()
	prof, err := profilev1.NewProfileServiceClient(conn).ExportProfile(c, &profilev1.ExportProfileRequest{Profile: name, Identifier: id})
	cancel()
	if err != nil {
		return nil, err
	}
	name = prof.GetProfile().GetName()
	doc := &personExport{Events: []json.RawMessage{}, Memberships: []json.RawMessage{}, MembershipChanges: []json.RawMessage{}}
	if doc.Profile, err = marshal(prof); err != nil {
		return nil, err
	}

	events := eventv1.NewEventServiceClient(conn)
	for token := ""; ; {
		c, cancel := call()
		resp, err := events.ListProfileEvents(c, &eventv1.ListProfileEventsRequest{Profile: name, PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		if doc.Events, err = appendMarshaled(doc.Events, resp.GetEvents()); err != nil {
			return nil, err
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}

	segments := segmentv1.NewSegmentServiceClient(conn)
	c, cancel = call()
	memberships, err := segments.ListProfileMemberships(c, &segmentv1.ListProfileMembershipsRequest{Profile: name})
	cancel()
	if err != nil && status.Code(err) != codes.NotFound {
		return nil, fmt.Errorf("list segment memberships: %w", err)
	}
	if doc.Memberships, err = appendMarshaled(doc.Memberships, memberships.GetMemberships()); err != nil {
		return nil, err
	}
	for token := ""; ; {
		c, cancel := call()
		resp, err := segments.ListMembershipChanges(c, &segmentv1.ListMembershipChangesRequest{Profile: name, PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list segment membership changes: %w", err)
		}
		if doc.MembershipChanges, err = appendMarshaled(doc.MembershipChanges, resp.GetChanges()); err != nil {
			return nil, err
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}

	c, cancel = call()
	value, err := metricsv1.NewMetricsServiceClient(conn).GetProfileValue(c, &metricsv1.GetProfileValueRequest{Profile: name})
	cancel()
	switch {
	case status.Code(err) == codes.NotFound:
		doc.Value = json.RawMessage("null")
	case err != nil:
		return nil, fmt.Errorf("get customer value: %w", err)
	default:
		if doc.Value, err = marshal(value); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// callTimeout bounds each call of an export.
const callTimeout = 30 * time.Second

func marshal(m proto.Message) (json.RawMessage, error) {
	return protojson.Marshal(m)
}

func appendMarshaled[M proto.Message](out []json.RawMessage, ms []M) ([]json.RawMessage, error) {
	for _, m := range ms {
		raw, err := marshal(m)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}
