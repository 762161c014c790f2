package identity

import (
	"encoding/json"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
)

// maxSignalLen is the longest signal passed on; the profile service
// rejects longer ones, and a bad signal must not fail an event.
const maxSignalLen = 512

// matchSignals takes the weak matching signals from an event's context
// object: context.ip, context.userAgent and context.device.fingerprint. It
// returns nil when there are none. context.device.id is not one: it is the
// device_id identifier, which the merge rules own (a device seen with
// several users becomes shared and must not join profiles by the back door).
func matchSignals(eventContext json.RawMessage) *profilev1.MatchSignals {
	if len(eventContext) == 0 {
		return nil
	}
	var c struct {
		IP        any `json:"ip"`
		UserAgent any `json:"userAgent"`
		Device    struct {
			Fingerprint any `json:"fingerprint"`
		} `json:"device"`
	}
	if json.Unmarshal(eventContext, &c) != nil {
		return nil
	}
	sig := &profilev1.MatchSignals{Ip: text(c.IP), UserAgent: text(c.UserAgent), DeviceFingerprint: text(c.Device.Fingerprint)}
	if sig.Ip == "" && sig.UserAgent == "" && sig.DeviceFingerprint == "" {
		return nil
	}
	return sig
}

// text returns v when it is a string of acceptable length, else "".
func text(v any) string {
	s, _ := v.(string)
	if len(s) > maxSignalLen {
		return ""
	}
	return s
}
