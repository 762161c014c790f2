package memory_test

import (
	"testing"

	"github.com/barista-cdp/barista/services/metrics/internal/memory"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
	"github.com/barista-cdp/barista/services/metrics/internal/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) metrics.Store { return memory.New() })
}
