package postgres_test

import (
	"testing"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
	"github.com/barista-cdp/barista/services/metrics/internal/postgres"
	"github.com/barista-cdp/barista/services/metrics/internal/storetest"
	"github.com/barista-cdp/barista/services/metrics/migrations"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) metrics.Store {
		return postgres.New(pgtest.NewPool(t, "metrics", migrations.FS))
	})
}
