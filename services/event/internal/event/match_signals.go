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
