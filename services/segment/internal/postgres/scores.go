package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// scoreQuerier is what the score reads need of a pool or a transaction.
type scoreQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const storeStatisticsSQL = `-- name: GetStoreStatistics
SELECT avg_order_value, order_value_p25, order_value_p50, order_value_p75, order_value_p90, order_value_p99, orders, customers
FROM segment.store_statistics`

func storeStatistics(ctx context.Context, q scoreQuerier) (condition.StoreStatistics, error) {
	var s condition.StoreStatistics
	err := q.QueryRow(ctx, storeStatisticsSQL).Scan(&s.AverageOrderValue, &s.P25, &s.P50, &s.P75, &s.P90, &s.P99, &s.Orders, &s.Customers)
	if err != nil {
		return condition.StoreStatistics{}, fmt.Errorf("read store statistics: %w", err)
	}
	return s, nil
}

const profileScoresSQL = `-- name: GetProfileScores
SELECT profile, recency, frequency, monetary, recency_days, orders, revenue
FROM segment.profile_scores WHERE profile = ANY($1)`

func profileScores(ctx context.Context, q scoreQuerier, names []string) (map[string]condition.RFM, error) {
	out := make(map[string]condition.RFM, len(names))
	if len(names) == 0 {
		return out, nil
	}
	rows, _ := q.Query(ctx, profileScoresSQL, names)
	var name string
	var r condition.RFM
	_, err := pgx.ForEachRow(rows, []any{&name, &r.Recency, &r.Frequency, &r.Monetary, &r.RecencyDays, &r.Orders, &r.Revenue}, func() error {
		out[name] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read profile scores: %w", err)
	}
	return out, nil
}

// StoreStatistics returns the store's statistics.
func (s *Store) StoreStatistics(ctx context.Context) (condition.StoreStatistics, error) {
	return storeStatistics(ctx, s.pool)
}

// ProfileScores returns the RFM of the profiles among names that have one.
func (s *Store) ProfileScores(ctx context.Context, names []string) (map[string]condition.RFM, error) {
	return profileScores(ctx, s.pool, names)
}

func (t *tx) StoreStatistics(ctx context.Context) (condition.StoreStatistics, error) {
	return storeStatistics(ctx, t.tx)
}

func (t *tx) ProfileScores(ctx context.Context, names []string) (map[string]condition.RFM, error) {
	return profileScores(ctx, t.tx, names)
}

const setStoreStatisticsSQL = `-- name: SetStoreStatistics
UPDATE segment.store_statistics SET avg_order_value = $1, order_value_p25 = $2, order_value_p50 = $3,
  order_value_p75 = $4, order_value_p90 = $5, order_value_p99 = $6, orders = $7, customers = $8`

func (t *tx) SetStoreStatistics(ctx context.Context, s condition.StoreStatistics) error {
	if _, err := t.tx.Exec(ctx, setStoreStatisticsSQL, s.AverageOrderValue, s.P25, s.P50, s.P75, s.P90, s.P99, s.Orders, s.Customers); err != nil {
		return fmt.Errorf("set store statistics: %w", err)
	}
	return nil
}

// replaceScoresSQL replaces every row by the given ones in one statement:
// its parts all see the table as it was, so changed compares the old rows
// with the new, and only the rows that differ are written (a refresh
// usually changes few of them).
const replaceScoresSQL = `-- name: ReplaceScores
WITH n AS (
  SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::bigint[], $6::bigint[], $7::float8[])
    AS n(profile, recency, frequency, monetary, recency_days, orders, revenue)
  WHERE NOT EXISTS (SELECT 1 FROM segment.erased_profiles e WHERE e.hash = sha256(convert_to(n.profile, 'UTF8')))
), changed AS (
  SELECT coalesce(n.profile, o.profile) AS profile
  FROM n FULL JOIN segment.profile_scores o ON o.profile = n.profile
  WHERE n.profile IS NULL OR o.profile IS NULL
    OR (n.recency, n.frequency, n.monetary, n.recency_days, n.orders, n.revenue)
       IS DISTINCT FROM (o.recency, o.frequency, o.monetary, o.recency_days, o.orders, o.revenue)
), deleted AS (
  DELETE FROM segment.profile_scores o WHERE NOT EXISTS (SELECT 1 FROM n WHERE n.profile = o.profile)
), upserted AS (
  INSERT INTO segment.profile_scores AS o SELECT n.* FROM n JOIN changed USING (profile)
  ON CONFLICT (profile) DO UPDATE SET recency = excluded.recency, frequency = excluded.frequency,
    monetary = excluded.monetary, recency_days = excluded.recency_days, orders = excluded.orders, revenue = excluded.revenue
  WHERE (o.recency, o.frequency, o.monetary, o.recency_days, o.orders, o.revenue)
    IS DISTINCT FROM (excluded.recency, excluded.frequency, excluded.monetary, excluded.recency_days, excluded.orders, excluded.revenue)
)
SELECT profile FROM changed ORDER BY profile COLLATE "C"`

func (t *tx) ReplaceScores(ctx context.Context, scores map[string]condition.RFM) ([]string, error) {
	n := len(scores)
	profiles, recency, frequency, monetary := make([]string, 0, n), make([]int32, 0, n), make([]int32, 0, n), make([]int32, 0, n)
	days, orders, revenue := make([]int64, 0, n), make([]int64, 0, n), make([]float64, 0, n)
	for p, r := range scores {
		profiles = append(profiles, p)
		recency, frequency, monetary = append(recency, int32(r.Recency)), append(frequency, int32(r.Frequency)), append(monetary, int32(r.Monetary))
		days, orders, revenue = append(days, r.RecencyDays), append(orders, r.Orders), append(revenue, r.Revenue)
	}
	rows, _ := t.tx.Query(ctx, replaceScoresSQL, profiles, recency, frequency, monetary, days, orders, revenue)
	changed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("replace profile scores: %w", err)
	}
	return changed, nil
}
