package memory_test

import (
	"testing"

	"github.com/barista-cdp/barista/services/event/internal/memory"
	"github.com/barista-cdp/barista/services/event/internal/storetest"
)

func TestRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T) storetest.RetentionStore { return memory.New() })
}
