package identity

import (
	"encoding/json"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

// matchSignals returns the weak matching signals of an event's context
// object (see event.ParseSignals) for the profile service, or nil when there
// are none.
func matchSignals(eventContext json.RawMessage) *profilev1.MatchSignals {
	s := event.ParseSignals(eventContext)
	if s == (event.Signals{}) {
		return nil
	}
	return &profilev1.MatchSignals{Ip: s.IP, UserAgent: s.UserAgent, DeviceFingerprint: s.DeviceFingerprint}
}
