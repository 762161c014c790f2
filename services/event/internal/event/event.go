// Package event is the domain of the event service: the stored event, the
// Store that keeps the append-only log, and Log, which deduplicates a batch,
// resolves its events to profiles and appends them in one commit.
package event

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Type is the Segment call an event came from. Its values are those of
// barista.event.v1.EventType, which is also how it is stored.
type Type int16

// Event types.
const (
	TypeTrack    Type = 1
	TypeIdentify Type = 2
	TypePage     Type = 3
	TypeScreen   Type = 4
	TypeGroup    Type = 5
	TypeAlias    Type = 6
)

// Identifier is one normalized way of recognising a person, such as
// email:ana@example.com.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// String returns the text form "type:value".
func (id Identifier) String() string { return id.Type + ":" + id.Value }

// Event is one stored (or about to be stored) thing a customer did.
// Properties, Traits and Context are JSON objects, nil when absent.
type Event struct {
	// Seq is the event's position in the log, assigned by Store.Append.
	Seq int64
	// MessageID is unique in the log; a second event with the same id is a
	// duplicate and is not stored.
	MessageID string
	// ProfileID is the id of the profile the event was resolved to (the
	// {profile} of "profiles/{profile}").
	ProfileID   string
	Type        Type
	Name        string
	Identifiers []Identifier
	Properties  json.RawMessage
	Traits      json.RawMessage
	Context     json.RawMessage
	// OccurredAt is when the event happened, ReceivedAt when the service
	// received it; both with microsecond precision, in UTC.
	OccurredAt time.Time
	ReceivedAt time.Time
	// TraceContext is the W3C trace context of the ingest call, so consumers
	// continue its trace; nil when there was none.
	TraceContext map[string]string
	// Update is set, and nothing but Seq with it, on a marker of a profile
	// change in the log (see ProfileUpdate).
	Update *ProfileUpdate
	// ResolvedAfter is the position in the profile change log up to which
	// this service had applied the changes when the event's profile was
	// resolved: ProfileID reflects every change up to it, and may not
	// reflect later ones. Store.Append uses it to place an event resolved
	// before an unmerge that was applied before the event is appended (see
	// Unmerge). It is not stored.
	ResolvedAfter int64
}

// Appended is the outcome of appending one event.
type Appended struct {
	// Event is the stored event: the appended one with its Seq, or, when
	// Duplicate, the event stored earlier under the same message id.
	Event Event
	// Duplicate reports that the message id was already stored (by an
	// earlier batch, a concurrent one, or earlier in the same batch).
	Duplicate bool
}

// Store keeps the event log.
//
// The log's order is its contract with consumers: they read "events after
// sequence N" and must never skip one. Append therefore makes events visible
// to readers in sequence order: once an event with sequence s can be read,
// every event with a smaller sequence can be read too. Sequences increase
// but may skip numbers.
type Store interface {
	// Append stores events in one transaction, in order, and returns one
	// Appended per event. Events whose message id is already stored are not
	// stored again; concurrent appends of one message id store it once.
	Append(ctx context.Context, events []Event) ([]Appended, error)
	// ByMessageIDs returns the stored events with the given message ids,
	// keyed by message id; ids not stored are absent.
	ByMessageIDs(ctx context.Context, messageIDs []string) (map[string]Event, error)
	// ListProfile returns at most limit events of a profile with sequence
	// greater than after, in sequence order.
	ListProfile(ctx context.Context, profileID string, after int64, limit int) ([]Event, error)
	// ReadAfter returns at most limit events with sequence greater than
	// after, in sequence order.
	ReadAfter(ctx context.Context, after int64, limit int) ([]Event, error)
}

// Errors of the profile service as seen by the event service.
var (
	// ErrProfileUnavailable means the profile service could not resolve
	// identifiers for a reason other than bad input.
	ErrProfileUnavailable = fmt.Errorf("profile service %w", apierror.ErrUnavailable)
	// ErrProfileNotFound means no profile holds an identifier.
	ErrProfileNotFound = fmt.Errorf("profile %w", apierror.ErrNotFound)
	// ErrProfileErased is returned by Store.Append, which stores nothing,
	// when an event's profile was erased after the event was resolved to
	// it. Resolving the batch again gives its events a profile that is not
	// erased, without the erased person's identifiers.
	ErrProfileErased = fmt.Errorf("a profile of the batch was erased while it was ingested; nothing was stored, retry the batch: %w", apierror.ErrUnavailable)
)
