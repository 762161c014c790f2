package event

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of the resolution cache.
const (
	// DefaultResolveCacheTTL is how long a resolution is reused.
	DefaultResolveCacheTTL = time.Minute
	// DefaultResolveCacheSize bounds the resolutions kept.
	DefaultResolveCacheSize = 100_000
)

// resolveCache remembers, for a short time, the profile that identifiers
// seen together resolved to, so that the next events of a known visitor are
// stored without asking the profile service again. Most events come from
// visitors whose identifiers are all linked already: resolving them again
// returns the same profile and changes nothing.
//
// Only a resolution that can be repeated without effect is kept: the event
// set no traits and the profile service refused none of its identifiers
// (see Log.Prepare). An entry is reused only for the same identifiers, in
// the same order, with the same weak matching signals (which the profile
// service records per profile), and for at most ttl, which bounds how long
// a change of the merge rules takes to apply to identifiers already seen.
// Every change of the profile change log clears the cache (ClearResolutions),
// and a profile merged or erased meanwhile is handled where events are
// stored (redirects, ErrProfileErased), as for a resolution that raced with
// the change.
type resolveCache struct {
	ttl time.Duration
	max int
	now func() time.Time
	// lookups counts the events looked up, by whether the cache knew them.
	lookups metric.Int64Counter

	mu      sync.Mutex
	entries map[string]cachedResolution
}

// cachedResolution is a profile id and when it stops being reused.
type cachedResolution struct {
	profile string
	expires time.Time
}

func newResolveCache(ttl time.Duration, size int, now func() time.Time) *resolveCache {
	if now == nil {
		now = time.Now
	}
	// On error the meter still returns a usable (no-op) counter.
	lookups, _ := otel.Meter("github.com/barista-cdp/barista/services/event").Int64Counter(
		"barista.event.resolve_cache.lookups",
		metric.WithDescription("Events whose profile was looked up in the resolution cache, by result (hit, miss)."),
		metric.WithUnit("{event}"),
	)
	return &resolveCache{ttl: ttl, max: size, now: now, lookups: lookups, entries: map[string]cachedResolution{}}
}

// count records the results of one batch's lookups.
func (c *resolveCache) count(ctx context.Context, hits, misses int) {
	if hits > 0 {
		c.lookups.Add(ctx, int64(hits), metric.WithAttributes(attribute.String("result", "hit")))
	}
	if misses > 0 {
		c.lookups.Add(ctx, int64(misses), metric.WithAttributes(attribute.String("result", "miss")))
	}
}

// get returns the profile that key resolved to, if it is kept and fresh.
func (c *resolveCache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return "", false
	}
	if c.now().After(e.expires) {
		delete(c.entries, key)
		return "", false
	}
	return e.profile, true
}

// put keeps the resolutions of keys to profiles. When full, the cache
// starts over: visitors active now come back in one resolution each.
func (c *resolveCache) put(keys, profiles []string) {
	if len(keys) == 0 {
		return
	}
	expires := c.now().Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, key := range keys {
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
		c.entries[key] = cachedResolution{profile: profiles[i], expires: expires}
	}
}

// clear forgets every resolution.
func (c *resolveCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// signalsKey encodes the weak matching signals of an event's context, the
// part of its cache key besides its identifiers ("" when it has none).
func signalsKey(eventContext json.RawMessage) string {
	s := ParseSignals(eventContext)
	if s == (Signals{}) {
		return ""
	}
	return "\x01" + s.IP + "\x01" + s.UserAgent + "\x01" + s.DeviceFingerprint
}
