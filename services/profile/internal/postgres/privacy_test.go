package postgres_test

import (
	"testing"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/profile/internal/postgres"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/internal/storetest"
	"github.com/barista-cdp/barista/services/profile/migrations"
)

func TestPrivacy(t *testing.T) {
	storetest.RunPrivacy(t, func(t *testing.T) profile.Store {
		return postgres.New(pgtest.NewPool(t, "profile", migrations.FS))
	})
}
