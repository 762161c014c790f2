package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/pgtest"
)

// The person erased, as sent (raw) by clients; the needles searched for
// after the erasure include their normalized forms.
const (
	erinEmail = "Erin.Erased@Example.com"
	erinPhone = "+1 (415) 555-0199"
	erinUser  = "u-erin-77"
	erinAnon1 = "anon-erin-1"
	erinAnon2 = "anon-erin-2"
	erinName  = "Erasedson"
)

// erasePerson makes a person known to every service (events with their
// identifiers also inside traits, properties and context; a merge; consent;
// a segment membership; a customer value), erases them with DeleteProfile,
// and returns the names of the profiles erased, once the other services no
// longer show anything of them.
func erasePerson(t *testing.T, s *suite) []string {
	t.Helper()
	ctx := context.Background()
	_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "erin-buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`},
	})
	require.NoError(t, err)
	// A bystander, who must keep everything.
	by := ingest(t, s, &eventv1.Event{
		MessageId: "bystander-order", Event: "Order Completed", Identifiers: []*typev1.Identifier{id("email", "bea@example.com")},
		Properties: props(t, map[string]any{"revenue": 10.0}),
	})
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, by.GetResults()[0].GetStatus(), by.GetResults()[0].GetError())

	pii := map[string]any{"email": erinEmail, "phone": erinPhone, "user_id": erinUser, "anonymous_id": erinAnon1, "name": "Erin " + erinName}
	resp := ingest(t, s,
		&eventv1.Event{
			MessageId: "erin-1", Type: eventv1.EventType_EVENT_TYPE_PAGE, Event: "Home",
			Identifiers: []*typev1.Identifier{id("anonymous_id", erinAnon1)},
			Properties:  props(t, map[string]any{"url": "https://shop.example/?email=" + erinEmail}),
			Context:     props(t, map[string]any{"traits": pii, "ip": "203.0.113.9"}),
		},
		&eventv1.Event{
			MessageId: "erin-2", Type: eventv1.EventType_EVENT_TYPE_PAGE, Event: "Cart",
			Identifiers: []*typev1.Identifier{id("anonymous_id", erinAnon2)},
		},
	)
	for _, r := range resp.GetResults() {
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
	}
	first, second := resp.GetResults()[0].GetProfile(), resp.GetResults()[1].GetProfile()
	require.NotEqual(t, first, second)
	resp = ingest(t, s,
		&eventv1.Event{
			MessageId: "erin-3", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY,
			Identifiers: []*typev1.Identifier{id("anonymous_id", erinAnon1), id("user_id", erinUser), id("email", erinEmail), id("phone", erinPhone)},
			Traits:      props(t, pii),
		},
		&eventv1.Event{
			MessageId: "erin-4", Event: "Signed In",
			Identifiers: []*typev1.Identifier{id("anonymous_id", erinAnon2), id("user_id", erinUser)},
			Properties:  props(t, map[string]any{"login": erinEmail}),
		},
		&eventv1.Event{
			MessageId: "erin-5", Event: "Order Completed",
			Identifiers: []*typev1.Identifier{id("user_id", erinUser)},
			Properties:  props(t, map[string]any{"revenue": 99.5, "billing_email": erinEmail, "phone": erinPhone}),
			Context:     props(t, map[string]any{"traits": pii}),
		},
	)
	for _, r := range resp.GetResults() {
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
	}
	// The two anonymous profiles merged; made in one call, their ids decide
	// which survived.
	got, err := s.profile.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("anonymous_id", erinAnon2)})
	require.NoError(t, err)
	survivor := got.GetProfile().GetName()
	require.Contains(t, []string{first, second}, survivor)
	require.Len(t, got.GetProfile().GetIdentifiers(), 5)
	if survivor == second {
		first, second = second, first
	}
	_, err = s.profile.SetConsent(ctx, &profilev1.SetConsentRequest{Identifier: id("email", erinEmail), Consents: []*profilev1.Consent{
		{Purpose: "email", Status: profilev1.ConsentStatus_CONSENT_STATUS_GRANTED, Source: "signup " + erinEmail},
	}})
	require.NoError(t, err)
	eventually(t, "membership of erin-buyers", func() bool {
		resp, err := s.segment.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: first})
		return err == nil && len(resp.GetMemberships()) == 1
	})
	eventually(t, "customer value", func() bool {
		resp, err := s.metrics.GetProfileValue(ctx, &metricsv1.GetProfileValueRequest{Profile: first})
		return err == nil && resp.GetValue().GetOrdersToDate() > 0
	})

	erased, err := s.profile.DeleteProfile(ctx, &profilev1.DeleteProfileRequest{Identifier: id("email", erinEmail)})
	require.NoError(t, err)
	require.Equal(t, first, erased.GetProfile())
	require.ElementsMatch(t, []string{first, second}, erased.GetErasedProfiles())
	require.Len(t, erased.GetIdentifiers(), 5)
	require.EqualValues(t, 1, erased.GetConsentsErased())
	require.EqualValues(t, 1, erased.GetMergesErased())

	_, err = s.profile.GetProfile(ctx, &profilev1.GetProfileRequest{Name: first})
	require.Equal(t, codes.NotFound, status.Code(err))
	return []string{first, second}
}

// erasedDownstream waits until the event, segment and metrics services show
// nothing of profile, and reports what each still shows when they do not.
func erasedDownstream(t *testing.T, s *suite, profile string) {
	t.Helper()
	ctx := context.Background()
	remains := func() []string {
		var out []string
		events, err := s.event.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Profile: profile})
		if err != nil || len(events.GetEvents()) > 0 {
			out = append(out, fmt.Sprintf("event service: %d events (%v)", len(events.GetEvents()), err))
		}
		memberships, err := s.segment.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: profile})
		if err != nil || len(memberships.GetMemberships()) > 0 {
			out = append(out, fmt.Sprintf("segment service: %d memberships (%v)", len(memberships.GetMemberships()), err))
		}
		value, err := s.metrics.GetProfileValue(ctx, &metricsv1.GetProfileValueRequest{Profile: profile})
		if status.Code(err) != codes.NotFound && (err != nil || value.GetValue().GetOrdersToDate() > 0) {
			out = append(out, fmt.Sprintf("metrics service: %d orders (%v)", value.GetValue().GetOrdersToDate(), err))
		}
		return out
	}
	var left []string
	deadline := time.Now().Add(20 * time.Second)
	for left = remains(); len(left) > 0 && time.Now().Before(deadline); left = remains() {
		time.Sleep(50 * time.Millisecond)
	}
	// Not fatal: what the rest of the test finds tells more.
	for _, l := range left {
		t.Errorf("the services still hold the erased person: %s", l)
	}
}

// checkSuppressed sends events with the erased identifiers: one that
// carries nothing else is rejected, and no profile is made for them.
func checkSuppressed(t *testing.T, s *suite) {
	t.Helper()
	ctx := context.Background()
	before := countProfiles(t, s)
	resp := ingest(t, s, &eventv1.Event{
		MessageId: "erin-after", Event: "Order Completed", Identifiers: []*typev1.Identifier{id("email", erinEmail)},
	})
	r := resp.GetResults()[0]
	require.Equal(t, eventv1.IngestResult_STATUS_REJECTED, r.GetStatus())
	require.Contains(t, r.GetError(), "suppressed")
	require.NotContains(t, r.GetError(), strings.ToLower(erinEmail), "the refusal does not echo the erased value")
	_, err := s.profile.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", erinEmail)})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = s.profile.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("phone", "+14155550199"), id("user_id", erinUser)}})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.Equal(t, before, countProfiles(t, s), "no profile is made for erased identifiers")

	// An event that carries an erased identifier beside a new one is
	// stored for the new one only, without the erased value anywhere.
	traits, err := structpb.NewStruct(map[string]any{"email": erinEmail, "plan": "gold"})
	require.NoError(t, err)
	resp = ingest(t, s, &eventv1.Event{
		MessageId: "erin-mixed", Event: "Product Viewed", Traits: traits,
		Identifiers: []*typev1.Identifier{id("email", erinEmail), id("anonymous_id", "erin-new-device")},
	})
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus(), resp.GetResults()[0].GetError())
	list, err := s.event.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Identifier: id("anonymous_id", "erin-new-device")})
	require.NoError(t, err)
	require.Len(t, list.GetEvents(), 1)
	stored := list.GetEvents()[0]
	require.Equal(t, []string{"anonymous_id"}, identifierTypes(stored.GetIdentifiers()), "the erased email is not stored")
	require.NotContains(t, stored.GetTraits().GetFields(), "email")
	require.Equal(t, "gold", stored.GetTraits().GetFields()["plan"].GetStringValue())
}

func identifierTypes(ids []*typev1.Identifier) []string {
	var out []string
	for _, x := range ids {
		out = append(out, x.GetType())
	}
	return out
}

func countProfiles(t *testing.T, s *suite) int {
	t.Helper()
	n := 0
	for token := ""; ; {
		resp, err := s.profile.ListProfiles(context.Background(), &profilev1.ListProfilesRequest{PageSize: 1000, PageToken: token})
		require.NoError(t, err)
		n += len(resp.GetProfiles())
		if token = resp.GetNextPageToken(); token == "" {
			return n
		}
	}
}

// needles are the values no table may hold after the erasure: every
// identifier as sent and normalized, the name from the traits, and the ids
// of the erased profiles.
func needles(profiles []string) []string {
	out := []string{
		erinEmail, strings.ToLower(erinEmail), erinPhone, "+14155550199", "4155550199", erinUser, erinAnon1, erinAnon2, erinName,
	}
	for _, p := range profiles {
		out = append(out, strings.TrimPrefix(p, "profiles/"))
	}
	return out
}

// finding is a column holding a needle.
type finding struct {
	column string
	needle string
	rows   int
}

func (f finding) String() string {
	return fmt.Sprintf("%s holds %q in %d rows", f.column, f.needle, f.rows)
}

// scanDatabase searches every text, character, JSON, bytea, uuid and array
// column of every table of every schema (but Postgres's own) for each
// needle, case-insensitively, as text and, in bytea columns, also as hex.
func scanDatabase(t *testing.T, pool *pgxpool.Pool, needles []string) []finding {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
SELECT c.table_schema, c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE t.table_type = 'BASE TABLE'
  AND c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg_toast%'
  AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'uuid', 'ARRAY')
ORDER BY 1, 2, 3`)
	require.NoError(t, err)
	type column struct{ schema, table, name, typ string }
	cols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (column, error) {
		var c column
		err := row.Scan(&c.schema, &c.table, &c.name, &c.typ)
		return c, err
	})
	require.NoError(t, err)
	require.NotEmpty(t, cols)
	var found []finding
	for _, c := range cols {
		var all []string
		for _, needle := range needles {
			all = append(all, "%"+strings.ToLower(needle)+"%")
			if c.typ == "bytea" {
				all = append(all, "%"+hex.EncodeToString([]byte(needle))+"%", "%"+hex.EncodeToString([]byte(strings.ToLower(needle)))+"%")
			}
		}
		var any bool
		q := fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE lower(%s::text) LIKE ANY($1))",
			pgx.Identifier{c.schema, c.table}.Sanitize(), pgx.Identifier{c.name}.Sanitize())
		require.NoError(t, pool.QueryRow(ctx, q, all).Scan(&any), q)
		if !any {
			continue
		}
		for _, needle := range needles {
			patterns := []string{"%" + strings.ToLower(needle) + "%"}
			if c.typ == "bytea" {
				patterns = append(patterns, "%"+hex.EncodeToString([]byte(needle))+"%", "%"+hex.EncodeToString([]byte(strings.ToLower(needle)))+"%")
			}
			table := pgx.Identifier{c.schema, c.table}.Sanitize()
			var n int
			q := fmt.Sprintf("SELECT count(*) FROM %s WHERE lower(%s::text) LIKE ANY($1)", table, pgx.Identifier{c.name}.Sanitize())
			require.NoError(t, pool.QueryRow(ctx, q, patterns).Scan(&n), q)
			if n > 0 {
				found = append(found, finding{column: c.schema + "." + c.table + "." + c.name, needle: needle, rows: n})
			}
		}
	}
	return found
}

// changeLog are the columns of the profile change log, and of its copy in
// the event log, that name profiles. The erasure notice must name the
// erased profiles so that the other services, reading the log at their own
// pace, delete their state: these columns may keep the ids of erased
// profiles (random UUIDs, which name nothing once the profiles are gone),
// and nothing else of the person.
var changeLog = map[string]bool{
	"profile.notices.profile_id":     true,
	"profile.notices.other_id":       true,
	"event.profile_updates.profiles": true,
}

// TestErasurePostgres erases a person from a suite on Postgres and then
// searches the whole database for anything of them.
func TestErasurePostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s, _ := startDev(t, url, nil)
	profiles := erasePerson(t, s)
	erasedDownstream(t, s, profiles[0])

	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// The services apply the erasure asynchronously: scan until nothing is
	// found, and report what is still found after the deadline.
	allowed := func(f finding) bool {
		return changeLog[f.column] && slices.Contains(profiles, "profiles/"+f.needle)
	}
	found := scanDatabase(t, pool, needles(profiles))
	for deadline := time.Now().Add(20 * time.Second); slices.ContainsFunc(found, func(f finding) bool { return !allowed(f) }) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		found = scanDatabase(t, pool, needles(profiles))
	}
	for _, f := range found {
		if allowed(f) {
			t.Logf("after the erasure, %s: the change log names the erased profile, so that consumers delete it", f)
			continue
		}
		t.Errorf("after the erasure, %s", f)
	}

	// The scan can fail: the bystander is found.
	require.NotEmpty(t, scanDatabase(t, pool, []string{"bea@example.com"}))
	checkSuppressed(t, s)
	for _, f := range scanDatabase(t, pool, needles(profiles)) {
		if !allowed(f) {
			t.Errorf("after an event with an erased identifier, %s", f)
		}
	}
}

// TestErasureInMemory runs the erasure on the in-memory suite, where there
// is no database to search: every service must show nothing of the person.
func TestErasureInMemory(t *testing.T) {
	s, _ := startDev(t, "", nil)
	profiles := erasePerson(t, s)
	erasedDownstream(t, s, profiles[0])
	checkSuppressed(t, s)
	ctx := context.Background()
	_, err := s.profile.ExportProfile(ctx, &profilev1.ExportProfileRequest{Identifier: id("user_id", erinUser)})
	require.Equal(t, codes.NotFound, status.Code(err))
	list, err := s.event.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Identifier: id("email", "bea@example.com")})
	require.NoError(t, err)
	require.Len(t, list.GetEvents(), 1, "the bystander keeps their events")
}
