package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

func (a *app) eventCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "event", Short: "Send and list behavioral events"}
	cmd.AddCommand(a.eventSendCommand(), a.eventListCommand(), a.eventRulesCommand())
	return cmd
}

func (a *app) eventSendCommand() *cobra.Command {
	var (
		typ, name, messageID, timestamp string
		ids, props, traits              []string
	)
	cmd := &cobra.Command{
		Use:   "send --id TYPE:VALUE [--event NAME] [--property KEY=VALUE]...",
		Short: "Send one event",
		Long: `Send one event to the event service.

Property and trait values are read as JSON when they parse as JSON (120.5, true,
"text", {"a":1}) and as plain text otherwise.`,
		Example: `  barista event send --id anonymous_id:a1 --event "Product Viewed" --property category=shoes
  barista event send --type identify --id anonymous_id:a1 --id user_id:42 --id email:ana@example.com --trait name=Ana
  barista event send --id user_id:42 --event "Order Completed" --property revenue=120.50 --property order_id=o-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ev := &eventv1.Event{Event: name, MessageId: messageID}
			t, ok := eventv1.EventType_value["EVENT_TYPE_"+strings.ToUpper(typ)]
			if !ok {
				return fmt.Errorf("--type %q: use track, identify, page, screen, group or alias", typ)
			}
			ev.Type = eventv1.EventType(t)
			for _, s := range ids {
				id, err := ident.Parse(s)
				if err != nil {
					return fmt.Errorf("--id: %w", err)
				}
				ev.Identifiers = append(ev.Identifiers, id)
			}
			var err error
			if ev.Properties, err = keyValues("--property", props); err != nil {
				return err
			}
			if ev.Traits, err = keyValues("--trait", traits); err != nil {
				return err
			}
			if timestamp != "" {
				ts, err := time.Parse(time.RFC3339, timestamp)
				if err != nil {
					return fmt.Errorf("--timestamp %q: use RFC 3339, such as 2026-11-01T10:00:00Z", timestamp)
				}
				ev.Timestamp = timestamppb.New(ts)
			}
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := eventv1.NewEventServiceClient(conn).IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: []*eventv1.Event{ev}})
			if err != nil {
				return err
			}
			if err := a.print(resp, func(t *table) {
				t.row("STATUS", "EVENT", "PROFILE", "MESSAGE ID", "ERROR")
				for _, r := range resp.GetResults() {
					t.row(resultStatus(r.GetStatus()), dash(r.GetName()), dash(r.GetProfile()), r.GetMessageId(), dash(fieldError(r)))
				}
			}); err != nil {
				return err
			}
			for _, r := range resp.GetResults() {
				if r.GetStatus() == eventv1.IngestResult_STATUS_REJECTED {
					return fmt.Errorf("event rejected: %s", fieldError(r))
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "track", "event type: track, identify, page, screen, group or alias")
	f.StringVar(&name, "event", "", "event name, such as \"Order Completed\" (required for track)")
	f.StringArrayVar(&ids, "id", nil, "identifier TYPE:VALUE of the person (repeatable), such as email:ana@example.com")
	f.StringArrayVar(&props, "property", nil, "event property KEY=VALUE (repeatable)")
	f.StringArrayVar(&traits, "trait", nil, "profile trait KEY=VALUE for identify events (repeatable)")
	f.StringVar(&messageID, "message-id", "", "unique message id; resending the same id is a no-op (default: generated)")
	f.StringVar(&timestamp, "timestamp", "", "when the event happened, RFC 3339 (default: now)")
	return cmd
}

func fieldError(r *eventv1.IngestResult) string {
	if r.GetField() != "" {
		return r.GetField() + ": " + r.GetError()
	}
	return r.GetError()
}

func resultStatus(s eventv1.IngestResult_Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

// keyValues parses KEY=VALUE pairs into a Struct; values that parse as JSON
// keep their JSON type, others are strings.
func keyValues(flag string, pairs []string) (*structpb.Struct, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := map[string]any{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, p)
		}
		var parsed any
		if err := json.Unmarshal([]byte(v), &parsed); err == nil {
			m[k] = parsed
		} else {
			m[k] = v
		}
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return s, nil
}

func (a *app) eventListCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "list IDENTIFIER|profiles/PROFILE",
		Short:   "List a profile's events, oldest first",
		Example: "  barista event list email:ana@example.com",
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
			client := eventv1.NewEventServiceClient(conn)
			all := &eventv1.ListProfileEventsResponse{}
			token := ""
			for len(all.Events) < limit {
				ctx, cancel := callCtx(cmd)
				resp, err := client.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{
					Profile: name, Identifier: id, PageSize: int32(min(limit-len(all.Events), 1000)), PageToken: token,
					// The table shows properties as stored, numbers with
					// every digit; -o json prints the API's Structs.
					JsonObjects: a.output != "json",
				})
				cancel()
				if err != nil {
					return err
				}
				all.Events = append(all.Events, resp.GetEvents()...)
				all.NextPageToken = resp.GetNextPageToken()
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			return a.print(all, func(t *table) {
				t.row("SEQ", "TIME", "TYPE", "EVENT", "PROPERTIES")
				for _, e := range all.GetEvents() {
					t.row(e.GetSequence(), formatTime(e.GetTimestamp(), e.GetTimestamp() != nil), eventType(e.GetType()), dash(e.GetEvent()), compactJSONText(e.GetPropertiesJson()))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "maximum number of events to list")
	return cmd
}

func eventType(t eventv1.EventType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "EVENT_TYPE_"))
}

func compactJSON(s *structpb.Struct) string {
	if len(s.GetFields()) == 0 {
		return "-"
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		return "?"
	}
	return string(b)
}

// compactJSONText is a JSON object's text on one line; "-" when it is
// absent or empty.
func compactJSONText(text string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil || b.Len() <= 2 {
		return "-"
	}
	return b.String()
}

func identifiers(ids []*typev1.Identifier) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = ident.String(id)
	}
	return strings.Join(s, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) eventRulesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "Show the normalization rules applied to events before they are stored",
		Long: `Show the normalization rules in force: event-name aliases (matched ignoring
case and "_", "-", "." separators), category labels, the store currency and the
currency rates that amounts are converted with.`,
		Example: "  barista event rules\n  barista event rules -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := callCtx(cmd)
			defer cancel()
			resp, err := eventv1.NewEventServiceClient(conn).GetNormalizationRules(ctx, &eventv1.GetNormalizationRulesRequest{})
			if err != nil {
				return err
			}
			r := resp.GetRules()
			return a.print(resp, func(t *table) {
				t.row("RULE", "FROM", "TO")
				for _, k := range slices.Sorted(maps.Keys(r.GetEventAliases())) {
					t.row("event", k, r.GetEventAliases()[k])
				}
				for _, k := range slices.Sorted(maps.Keys(r.GetCategoryLabels())) {
					t.row("category", k, r.GetCategoryLabels()[k])
				}
				for _, k := range slices.Sorted(maps.Keys(r.GetCurrencyRates())) {
					t.row("currency", "1 "+k, fmt.Sprintf("%g %s", r.GetCurrencyRates()[k], r.GetStoreCurrency()))
				}
				t.row("store currency", "-", r.GetStoreCurrency())
				t.row("money properties", "-", strings.Join(r.GetMoneyProperties(), ", "))
			})
		},
	}
}
