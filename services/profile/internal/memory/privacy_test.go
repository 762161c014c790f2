package memory_test

import (
	"testing"

	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/internal/storetest"
)

func TestPrivacy(t *testing.T) {
	storetest.RunPrivacy(t, func(t *testing.T) profile.Store { return memory.New() })
}
