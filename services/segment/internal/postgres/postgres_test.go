package postgres_test

import (
	"testing"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/internal/storetest"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) segment.Store {
		return postgres.New(pgtest.NewPool(t, "segment", migrations.FS))
	})
}
