-- +goose Up

-- The RFM of every profile with orders in the metrics service's window, as
-- of the latest refresh of the scores; a profile without a row has none.
CREATE TABLE segment.profile_scores (
  profile text PRIMARY KEY,
  recency int NOT NULL,
  frequency int NOT NULL,
  monetary int NOT NULL,
  recency_days bigint NOT NULL,
  orders bigint NOT NULL,
  revenue double precision NOT NULL
);

-- The store's order statistics as of the latest refresh: one row, all zero
-- before the first.
CREATE TABLE segment.store_statistics (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  avg_order_value double precision NOT NULL DEFAULT 0,
  order_value_p25 double precision NOT NULL DEFAULT 0,
  order_value_p50 double precision NOT NULL DEFAULT 0,
  order_value_p75 double precision NOT NULL DEFAULT 0,
  order_value_p90 double precision NOT NULL DEFAULT 0,
  order_value_p99 double precision NOT NULL DEFAULT 0,
  orders bigint NOT NULL DEFAULT 0,
  customers bigint NOT NULL DEFAULT 0
);
INSERT INTO segment.store_statistics DEFAULT VALUES;

-- +goose Down
DROP TABLE segment.store_statistics;
DROP TABLE segment.profile_scores;
