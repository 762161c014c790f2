package memory_test

import (
	"testing"

	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) segment.Store { return memory.New() })
}
