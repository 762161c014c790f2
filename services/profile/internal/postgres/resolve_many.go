package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

var _ profile.ManyResolver = (*Store)(nil)

// ResolveMany implements profile.ManyResolver: it locks the identifiers of
// every call and their holders at once, as Resolve does for one, then
// decides and applies each call in order, and commits once, retrying
// transactions that lost a race.
func (s *Store) ResolveMany(ctx context.Context, calls []profile.ResolveCall) ([]error, error) {
	for attempt := 1; ; attempt++ {
		errs := make([]error, len(calls))
		err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			clear(errs)
			return resolveMany(ctx, tx, calls, errs)
		})
		if err == nil {
			return errs, nil
		}
		if attempt == maxAttempts || !retryable(err) {
			return nil, err
		}
	}
}

// resolveMany is one attempt of ResolveMany in tx.
func resolveMany(ctx context.Context, tx pgx.Tx, calls []profile.ResolveCall, errs []error) error {
	var ids []profile.Identifier
	for _, c := range calls {
		ids = append(ids, c.IDs...)
	}
	if _, err := tx.Exec(ctx, lockIdentifiersSQL, lockKeys(ids)); err != nil {
		return fmt.Errorf("lock identifiers: %w", err)
	}
	types, values := split(ids)
	holders, err := lockHolders(ctx, tx, types, values)
	if err != nil {
		return err
	}
	// The changes' statements go in one round trip, but for merges, whose
	// notices read what they wrote.
	var w writes
	taken := map[string]bool{}
	for k, c := range calls {
		mine := profile.HoldersOf(c.IDs, holders)
		entangled := false
		for _, p := range mine {
			entangled = entangled || taken[p.ID]
		}
		if entangled {
			errs[k] = profile.ErrEntangled
			continue
		}
		for _, p := range mine {
			taken[p.ID] = true
		}
		change, err := c.Decide(mine)
		if err != nil {
			errs[k] = err
			continue
		}
		if change.Update != nil && len(change.Update.Merges) > 0 {
			if err := w.send(ctx, tx); err != nil {
				return err
			}
			w = writes{}
			if err := apply(ctx, tx, change); err != nil {
				return err
			}
			continue
		}
		if err := w.add(change); err != nil {
			return err
		}
	}
	return w.send(ctx, tx)
}
