package event

import (
	"context"
	"encoding/json"
)

type resolvedEventKey struct{}

// resolvedEvent is what WithEvent puts in a context.
type resolvedEvent struct {
	context   json.RawMessage
	messageID string
}

// WithEvent returns ctx carrying, for a Resolver, the context object of the
// event being resolved, from which it may take weak matching signals (IP,
// user agent, device), and the event's message id, the source of the trait
// changes it makes, without the Resolver interface carrying them.
func WithEvent(ctx context.Context, eventContext json.RawMessage, messageID string) context.Context {
	if len(eventContext) == 0 && messageID == "" {
		return ctx
	}
	return context.WithValue(ctx, resolvedEventKey{}, resolvedEvent{context: eventContext, messageID: messageID})
}

// EventContext returns the event context set by WithEvent, or nil.
func EventContext(ctx context.Context) json.RawMessage {
	ev, _ := ctx.Value(resolvedEventKey{}).(resolvedEvent)
	return ev.context
}

// EventSource returns the message id set by WithEvent, or "".
func EventSource(ctx context.Context) string {
	ev, _ := ctx.Value(resolvedEventKey{}).(resolvedEvent)
	return ev.messageID
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
