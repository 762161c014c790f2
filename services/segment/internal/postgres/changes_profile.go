package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

const (
	deleteFactsSQL = `-- name: DeleteFacts
DELETE FROM segment.facts WHERE profile = ANY($1::text[])`

	setConsentsSQL = `-- name: SetConsents
INSERT INTO segment.profiles (profile, consents) VALUES ($1, $2::text::jsonb)
ON CONFLICT (profile) DO UPDATE SET consents = excluded.consents`

	deleteProfilesSQL = `-- name: DeleteProfiles
DELETE FROM segment.profiles WHERE profile = ANY($1::text[])`

	eraseScoresSQL = `-- name: EraseScores
DELETE FROM segment.profile_scores WHERE profile = $1`

	eraseMembershipsSQL = `-- name: EraseMemberships
DELETE FROM segment.memberships WHERE profile = $1`

	eraseChangesSQL = `-- name: EraseChanges
DELETE FROM segment.changes WHERE profile = $1`

	eraseDeliveriesSQL = `-- name: EraseDeliveries
DELETE FROM segment.deliveries WHERE profile = $1`
)

// ReplaceFacts replaces every fact of a profile.
func (t *tx) ReplaceFacts(ctx context.Context, profile string, facts []segment.Fact) error {
	if _, err := t.tx.Exec(ctx, deleteFactsSQL, []string{profile}); err != nil {
		return fmt.Errorf("delete facts: %w", err)
	}
	for i := range facts {
		facts[i].Profile = profile
	}
	return t.AddFacts(ctx, facts)
}

// SetConsents replaces a profile's consents, creating the profile.
func (t *tx) SetConsents(ctx context.Context, profile string, consents map[string]bool) error {
	b, err := marshalObject(consents)
	if err != nil {
		return err
	}
	if _, err := t.tx.Exec(ctx, setConsentsSQL, profile, b); err != nil {
		return fmt.Errorf("set consents: %w", err)
	}
	return nil
}

// DeleteProfiles deletes profiles' rows (traits, consents, check) and
// facts.
func (t *tx) DeleteProfiles(ctx context.Context, profiles []string) error {
	b := &pgx.Batch{}
	b.Queue(deleteFactsSQL, profiles)
	b.Queue(deleteProfilesSQL, profiles)
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("delete profiles: %w", err)
	}
	return nil
}

// EraseProfile deletes every row naming a profile. The change log gets
// gaps where its changes were; readers of the log ask for changes after a
// addErasedSQL keeps the SHA-256 of an erased profile's name, so that a
// score refresh computed before the erasure cannot store scores for it.
const addErasedSQL = `-- name: AddErasedProfile
INSERT INTO segment.erased_profiles (hash) VALUES (sha256(convert_to($1::text, 'UTF8'))) ON CONFLICT DO NOTHING`

// position and never rely on numbers being consecutive.
func (t *tx) EraseProfile(ctx context.Context, profile string) error {
	if err := t.DeleteProfiles(ctx, []string{profile}); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, sql := range []string{eraseScoresSQL, eraseMembershipsSQL, eraseChangesSQL, eraseDeliveriesSQL, addErasedSQL} {
		b.Queue(sql, profile)
	}
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("erase profile: %w", err)
	}
	return nil
}
