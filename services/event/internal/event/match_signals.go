package event

import (
	"context"
	"encoding/json"
)

type eventContextKey struct{}

// WithEventContext returns ctx carrying the context object of the event
// being resolved, from which a Resolver may take weak matching signals (IP,
// user agent, device) without the Resolver interface carrying them.
func WithEventContext(ctx context.Context, eventContext json.RawMessage) context.Context {
	if len(eventContext) == 0 {
		return ctx
	}
	return context.WithValue(ctx, eventContextKey{}, eventContext)
}

// EventContext returns the event context set by WithEventContext, or nil.
func EventContext(ctx context.Context) json.RawMessage {
	raw, _ := ctx.Value(eventContextKey{}).(json.RawMessage)
	return raw
}

// MaxSignalLen is the longest signal passed on; the profile service rejects
// longer ones, and a bad signal must not fail an event.
const MaxSignalLen = 512

// Signals are the weak matching signals of an event (see ParseSignals).
type Signals struct {
	IP                string
	UserAgent         string
	DeviceFingerprint string
}

// ParseSignals takes the weak matching signals from an event's context
// object: context.ip, context.userAgent and context.device.fingerprint, each
// when it is a string of acceptable length. context.device.id is not one:
// it is the device_id identifier, which the merge rules own (a device seen
// with several users becomes shared and must not join profiles by the back
// door).
func ParseSignals(eventContext json.RawMessage) Signals {
	if len(eventContext) == 0 {
		return Signals{}
	}
	var c struct {
		IP        any `json:"ip"`
		UserAgent any `json:"userAgent"`
		Device    struct {
			Fingerprint any `json:"fingerprint"`
		} `json:"device"`
	}
	if json.Unmarshal(eventContext, &c) != nil {
		return Signals{}
	}
	return Signals{IP: signalText(c.IP), UserAgent: signalText(c.UserAgent), DeviceFingerprint: signalText(c.Device.Fingerprint)}
}

// signalText returns v when it is a string of acceptable length, else "".
func signalText(v any) string {
	s, _ := v.(string)
	if len(s) > MaxSignalLen {
		return ""
	}
	return s
}
