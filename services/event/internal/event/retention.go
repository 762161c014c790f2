package event

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Retention modes: what happens to events older than the retention age.
const (
	// RetentionDelete deletes them.
	RetentionDelete = "delete"
	// RetentionAnonymize keeps them for aggregates but strips the profile,
	// the identifiers, the traits, personal properties and all context but
	// KeptContextKeys.
	RetentionAnonymize = "anonymize"
)

// RetentionInterval is how often the service applies its retention policy.
const RetentionInterval = time.Hour

// PersonalPropertyKeys are property keys that anonymization removes, compared
// in lower case. A property whose string value equals (ignoring case) one of
// the event's identifier values goes too, whatever its key.
var PersonalPropertyKeys = []string{
	"email", "phone", "name", "first_name", "firstname", "last_name", "lastname", "username",
	"address", "street", "postcode", "zip", "ip", "birthday", "user_id", "userid", "anonymous_id", "anonymousid",
}

// KeptContextKeys are the only context keys anonymization keeps: what says
// nothing about who or where a person is.
var KeptContextKeys = []string{"library", "locale", "timezone", "campaign"}

// Retention is the event retention policy.
type Retention struct {
	// MaxAge is how long an event is kept after it was received; zero
	// keeps events forever.
	MaxAge time.Duration
	// Mode is RetentionDelete or RetentionAnonymize.
	Mode string
}

// ParseRetention reads a retention age such as "400d", "72h" or "0" (keep
// forever) and a mode ("" is RetentionDelete).
func ParseRetention(age, mode string) (Retention, error) {
	r := Retention{Mode: mode}
	if r.Mode == "" {
		r.Mode = RetentionDelete
	}
	if r.Mode != RetentionDelete && r.Mode != RetentionAnonymize {
		return Retention{}, fmt.Errorf("retention mode %q: want %s or %s", mode, RetentionDelete, RetentionAnonymize)
	}
	switch {
	case age == "" || age == "0":
	case strings.HasSuffix(age, "d"):
		days, err := strconv.Atoi(strings.TrimSuffix(age, "d"))
		if err != nil || days < 0 {
			return Retention{}, fmt.Errorf("retention %q: want a number of days such as 400d, or a duration such as 72h", age)
		}
		r.MaxAge = time.Duration(days) * 24 * time.Hour
	default:
		d, err := time.ParseDuration(age)
		if err != nil || d < 0 {
			return Retention{}, fmt.Errorf("retention %q: want a number of days such as 400d, or a duration such as 72h", age)
		}
		r.MaxAge = d
	}
	if r.MaxAge != 0 && r.MaxAge < time.Hour {
		return Retention{}, fmt.Errorf("retention %q: keep events at least 1h", age)
	}
	return r, nil
}

// RetentionResult is what one application of the policy did.
type RetentionResult struct {
	// Cutoff is the time before which events were received.
	Cutoff time.Time
	// Deleted and Anonymized count events.
	Deleted, Anonymized int64
	// DroppedPartitions names the monthly partitions dropped whole
	// (Postgres only).
	DroppedPartitions []string
}

// RetentionStore applies a retention policy to the log.
type RetentionStore interface {
	// DeleteBefore deletes the events received before cutoff.
	DeleteBefore(ctx context.Context, cutoff time.Time) (RetentionResult, error)
	// AnonymizeBefore anonymizes the events received before cutoff, as
	// Anonymize does; events anonymized before are left alone.
	AnonymizeBefore(ctx context.Context, cutoff time.Time) (RetentionResult, error)
}

// ApplyRetention applies r once at now. It does nothing when r keeps events
// forever.
func ApplyRetention(ctx context.Context, store RetentionStore, r Retention, now time.Time) (RetentionResult, error) {
	if r.MaxAge == 0 {
		return RetentionResult{}, nil
	}
	cutoff := now.UTC().Add(-r.MaxAge).Truncate(time.Microsecond)
	var (
		res RetentionResult
		err error
	)
	if r.Mode == RetentionAnonymize {
		res, err = store.AnonymizeBefore(ctx, cutoff)
	} else {
		res, err = store.DeleteBefore(ctx, cutoff)
	}
	res.Cutoff = cutoff
	return res, err
}

// RunRetention applies r now and then every interval until ctx ends,
// logging what each run did; a failed run is logged and retried at the next
// interval.
func RunRetention(ctx context.Context, store RetentionStore, r Retention, interval time.Duration, logger *slog.Logger) error {
	if r.MaxAge == 0 {
		<-ctx.Done()
		return nil
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		res, err := ApplyRetention(ctx, store, r, time.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			logger.Error("event retention failed", "error", err)
		case res.Deleted > 0 || res.Anonymized > 0 || len(res.DroppedPartitions) > 0:
			logger.Info("event retention applied", "mode", r.Mode, "cutoff", res.Cutoff, "deleted", res.Deleted,
				"anonymized", res.Anonymized, "dropped_partitions", res.DroppedPartitions)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Anonymize returns ev without what ties it to a person: no profile, no
// identifiers, no traits, no personal properties, and only KeptContextKeys
// of its context. Name, type, times and the other properties stay, for
// aggregates.
func Anonymize(ev Event) (Event, error) {
	values := map[string]bool{}
	for _, id := range ev.Identifiers {
		values[strings.ToLower(id.Value)] = true
	}
	var err error
	if ev.Properties, err = filterObject(ev.Properties, func(k string, v any) bool {
		s, isString := v.(string)
		return !slices.Contains(PersonalPropertyKeys, strings.ToLower(k)) && !(isString && values[strings.ToLower(s)])
	}); err != nil {
		return ev, fmt.Errorf("anonymize properties: %w", err)
	}
	if ev.Context, err = filterObject(ev.Context, func(k string, _ any) bool { return slices.Contains(KeptContextKeys, k) }); err != nil {
		return ev, fmt.Errorf("anonymize context: %w", err)
	}
	ev.ProfileID, ev.Identifiers, ev.Traits = "", nil, nil
	return ev, nil
}

// filterObject keeps the keys of the JSON object raw that keep accepts;
// nil when none is left.
func filterObject(raw json.RawMessage, keep func(k string, v any) bool) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	for k, v := range obj {
		if !keep(k, v) {
			delete(obj, k)
		}
	}
	if len(obj) == 0 {
		return nil, nil
	}
	return json.Marshal(obj)
}
