package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

const triggerColumns = `id, segment, kind, delay_ms, url, secret, create_time, required_consent`

const createTriggerSQL = `-- name: CreateTrigger
INSERT INTO segment.triggers (` + triggerColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO NOTHING`

// CreateTrigger stores a trigger.
func (s *Store) CreateTrigger(ctx context.Context, t segment.Trigger) error {
	tag, err := s.pool.Exec(ctx, createTriggerSQL, t.ID, t.Segment, int16(t.On), t.Delay.Milliseconds(), t.URL, t.Secret, t.CreateTime, t.RequiredConsent)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return fmt.Errorf("%w: segments/%s", segment.ErrNotFound, t.Segment)
	}
	if err != nil {
		return fmt.Errorf("create trigger: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: triggers/%s", segment.ErrTriggerExists, t.ID)
	}
	return nil
}

func scanTrigger(row pgx.CollectableRow) (segment.Trigger, error) {
	var t segment.Trigger
	var kind int16
	var delay int64
	err := row.Scan(&t.ID, &t.Segment, &kind, &delay, &t.URL, &t.Secret, &t.CreateTime, &t.RequiredConsent)
	t.On, t.Delay, t.CreateTime = segment.Kind(kind), time.Duration(delay)*time.Millisecond, t.CreateTime.UTC()
	return t, err
}

const getTriggerSQL = `-- name: GetTrigger
SELECT ` + triggerColumns + ` FROM segment.triggers WHERE id = $1`

// GetTrigger returns a trigger.
func (s *Store) GetTrigger(ctx context.Context, id string) (segment.Trigger, error) {
	rows, _ := s.pool.Query(ctx, getTriggerSQL, id)
	t, err := pgx.CollectExactlyOneRow(rows, scanTrigger)
	if errors.Is(err, pgx.ErrNoRows) {
		return segment.Trigger{}, fmt.Errorf("%w: triggers/%s", segment.ErrTriggerNotFound, id)
	}
	if err != nil {
		return segment.Trigger{}, fmt.Errorf("get trigger: %w", err)
	}
	return t, nil
}

const listTriggersSQL = `-- name: ListTriggers
SELECT ` + triggerColumns + ` FROM segment.triggers WHERE id > $1 ORDER BY id LIMIT $2`

// ListTriggers returns a page of triggers by id.
func (s *Store) ListTriggers(ctx context.Context, after string, limit int) ([]segment.Trigger, error) {
	rows, _ := s.pool.Query(ctx, listTriggersSQL, after, limit)
	ts, err := pgx.CollectRows(rows, scanTrigger)
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	return ts, nil
}

const triggerCursorSQL = `-- name: TriggerCursor
SELECT change_seq FROM segment.trigger_cursor`

// TriggerCursor returns the position in the change log up to which
// deliveries have been created.
func (s *Store) TriggerCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, triggerCursorSQL).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read trigger cursor: %w", err)
	}
	return seq, nil
}

const addDeliverySQL = `-- name: AddDelivery
INSERT INTO segment.deliveries (trigger, change_seq, segment, profile, kind, change_time, due_time, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (trigger, change_seq) DO NOTHING`

const setTriggerCursorSQL = `-- name: SetTriggerCursor
UPDATE segment.trigger_cursor SET change_seq = greatest(change_seq, $1)`

// AddDeliveries stores deliveries and moves the trigger cursor, in one
// transaction.
func (s *Store) AddDeliveries(ctx context.Context, cursor int64, deliveries []segment.Delivery) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("add deliveries: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	batch := &pgx.Batch{}
	for _, d := range deliveries {
		batch.Queue(addDeliverySQL, d.Trigger, d.Change, d.Segment, d.Profile, int16(d.Kind), d.ChangeTime, d.DueTime, int16(d.State))
	}
	batch.Queue(setTriggerCursorSQL, cursor)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("add deliveries: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("add deliveries: %w", err)
	}
	return nil
}

const deliveryColumns = `id, trigger, change_seq, segment, profile, kind, change_time, due_time, state, attempts, last_status, last_error, done_time`

func scanDelivery(row pgx.CollectableRow) (segment.Delivery, error) {
	var d segment.Delivery
	var kind, state int16
	var done *time.Time
	err := row.Scan(&d.ID, &d.Trigger, &d.Change, &d.Segment, &d.Profile, &kind, &d.ChangeTime, &d.DueTime, &state,
		&d.Attempts, &d.LastStatus, &d.LastError, &done)
	d.Kind, d.State = segment.Kind(kind), segment.DeliveryState(state)
	d.ChangeTime, d.DueTime = d.ChangeTime.UTC(), d.DueTime.UTC()
	if done != nil {
		d.DoneTime = done.UTC()
	}
	return d, err
}

const dueDeliveriesSQL = `-- name: DueDeliveries
SELECT ` + deliveryColumns + ` FROM segment.deliveries
WHERE trigger = $1 AND state = 1 AND due_time <= $2
ORDER BY due_time, id LIMIT $3`

// DueDeliveries returns a trigger's pending deliveries due at or before
// now, earliest first.
func (s *Store) DueDeliveries(ctx context.Context, trigger string, now time.Time, limit int) ([]segment.Delivery, error) {
	rows, _ := s.pool.Query(ctx, dueDeliveriesSQL, trigger, now, limit)
	ds, err := pgx.CollectRows(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return ds, nil
}

const updateDeliverySQL = `-- name: UpdateDelivery
UPDATE segment.deliveries
SET state = $2, attempts = $3, due_time = $4, last_status = $5, last_error = $6, done_time = $7
WHERE id = $1`

// UpdateDelivery stores the outcome of an attempt.
func (s *Store) UpdateDelivery(ctx context.Context, d segment.Delivery) error {
	var done *time.Time
	if !d.DoneTime.IsZero() {
		done = &d.DoneTime
	}
	tag, err := s.pool.Exec(ctx, updateDeliverySQL, d.ID, int16(d.State), d.Attempts, d.DueTime, d.LastStatus, d.LastError, done)
	if err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("no delivery %d", d.ID)
	}
	return nil
}

const listDeliveriesSQL = `-- name: ListDeliveries
SELECT ` + deliveryColumns + ` FROM segment.deliveries
WHERE trigger = $1 AND ($2::bigint = 0 OR id < $2)
ORDER BY id DESC LIMIT $3`

// ListDeliveries returns a page of a trigger's deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, trigger string, before int64, limit int) ([]segment.Delivery, error) {
	rows, _ := s.pool.Query(ctx, listDeliveriesSQL, trigger, before, limit)
	ds, err := pgx.CollectRows(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}
