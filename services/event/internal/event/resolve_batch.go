package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// ErrBatchUnsupported is returned by a BatchResolver whose profile service
// cannot resolve batches (an older version); the Log then resolves event
// by event.
var ErrBatchUnsupported = errors.New("the profile service does not resolve batches")

// Resolution asks for the profile of identifiers seen together at At, with
// Traits (a JSON object, or nil) to set on it. Context is the event's
// context object, from which a resolver may take weak matching signals, as
// Resolve takes them from EventContext.
type Resolution struct {
	Identifiers []Identifier
	Traits      json.RawMessage
	At          time.Time
	Context     json.RawMessage
	Source      string // the event's message id, recorded as the source of the trait changes it makes
}

// Resolved is the outcome of one Resolution: the profile's id, or Err, an
// *apierror.InvalidError whose field is a field of Event.
type Resolved struct {
	ProfileID string
	Err       error
	// Suppressed are identifiers of the request the profile service refused
	// because their person was erased; they and their values are removed
	// from the event before it is stored.
	Suppressed []Identifier
}

// BatchResolver is a Resolver that also resolves many identifier sets in
// one call.
type BatchResolver interface {
	Resolver
	// ResolveBatch resolves reqs with the results of calling Resolve for
	// each of them one after the other, in order, and returns one Resolved
	// per request; bad input fails only its request. Any error fails the
	// whole call; ErrBatchUnsupported means that Resolve must be used.
	ResolveBatch(ctx context.Context, reqs []Resolution) ([]Resolved, error)
}

// resolveBatch is resolve with one ResolveBatch call: an event with the
// same identifiers as an earlier one shares its resolution as in resolve,
// and the other events become the batch's requests, in order. The profile
// service applies them in that order, which keeps identity order without
// the event service having to wait for one answer before asking the next.
func (l *Log) resolveBatch(ctx context.Context, resolver BatchResolver, events []Event, idx []int, out []Outcome) error {
	var (
		reqs      []Resolution
		owner     []int // owner[k] is the event whose request is reqs[k]
		primaries = map[string]int{}
		lastKey   = map[Identifier]string{}
		shares    = map[int]int{} // event -> the request it shares
	)
	for _, i := range idx {
		ev := &events[i]
		key := identifiersKey(ev.Identifiers)
		if k, ok := primaries[key]; ok && !setsTraits(ev) && untouched(ev.Identifiers, lastKey, key) {
			shares[i] = k
			continue
		}
		for _, id := range ev.Identifiers {
			lastKey[id] = key
		}
		primaries[key] = len(reqs)
		req := Resolution{Identifiers: ev.Identifiers, At: ev.OccurredAt, Context: ev.Context, Source: ev.MessageID}
		if ev.Type == TypeIdentify {
			req.Traits = ev.Traits
		}
		reqs = append(reqs, req)
		owner = append(owner, i)
	}

	resolved, err := resolver.ResolveBatch(ctx, reqs)
	suppressed := map[int][]Identifier{}
	switch {
	case errors.Is(err, ErrBatchUnsupported):
		return err
	case err == nil && len(resolved) != len(reqs):
		err = fmt.Errorf("profile service answered %d of %d resolutions", len(resolved), len(reqs))
	}
	if err == nil {
		for k, r := range resolved {
			var invalid *apierror.InvalidError
			switch {
			case r.Err == nil:
				events[owner[k]].ProfileID = r.ProfileID
				suppressed[owner[k]] = r.Suppressed
			case errors.As(r.Err, &invalid):
				out[owner[k]] = rejection(invalid)
			default:
				err = r.Err
			}
		}
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		l.logger.WarnContext(ctx, "profile resolution failed; batch not stored", "error", err)
		return fmt.Errorf("%w; nothing was stored, retry the batch", ErrProfileUnavailable)
	}
	for i, k := range shares {
		if p := owner[k]; out[p].Status == StatusRejected {
			out[i] = out[p]
		} else {
			events[i].ProfileID = events[p].ProfileID
			suppressed[i] = suppressed[p]
		}
	}
	for i, ids := range suppressed {
		scrubSuppressed(&events[i], ids)
	}
	return nil
}
