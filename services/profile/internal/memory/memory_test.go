package memory_test

import (
	"testing"

	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/internal/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) profile.Store { return memory.New() })
}
