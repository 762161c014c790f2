package segment

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Trigger errors; stores wrap them with the specifics.
var (
	// ErrTriggerNotFound means no trigger has the id.
	ErrTriggerNotFound = fmt.Errorf("trigger %w", apierror.ErrNotFound)
	// ErrTriggerExists means a trigger with the id already exists.
	ErrTriggerExists = fmt.Errorf("trigger %w", apierror.ErrAlreadyExists)
)

// Trigger posts a webhook when profiles enter or exit a segment, after an
// optional delay and only if the change still holds then.
type Trigger struct {
	ID      string
	Segment string
	// On is the kind of change that fires it.
	On Kind
	// Delay is how long after the change to re-check and send.
	Delay time.Duration
	// URL receives the POST.
	URL string
	// Secret is the HMAC-SHA256 key of the signature.
	Secret string
	// RequiredConsent is the purpose (one of ConsentPurposes) the profile
	// must have consented to when the webhook is sent; empty for none.
	RequiredConsent string
	CreateTime      time.Time
}

// ConsentPurposes are the purposes a trigger may require consent for: the
// profile service's purposes.
var ConsentPurposes = []string{"analytics", "email", "sms", "personalization"}

// DeliveryState is where a delivery stands.
type DeliveryState int

// States of a delivery.
const (
	// Pending deliveries wait for their due time (first try or retry).
	Pending DeliveryState = 1
	// Sent deliveries were acknowledged by a 2xx response.
	Sent DeliveryState = 2
	// Skipped deliveries found at the re-check that the change no longer
	// held: the profile left (or came back to) the segment during the delay.
	Skipped DeliveryState = 3
	// Failed deliveries exhausted their attempts.
	Failed DeliveryState = 4
)

// String returns the state's name, such as "sent".
func (s DeliveryState) String() string {
	switch s {
	case Pending:
		return "pending"
	case Sent:
		return "sent"
	case Skipped:
		return "skipped"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("DeliveryState(%d)", int(s))
}

// Delivery is one webhook owed for one membership change, with its
// attempts.
type Delivery struct {
	// ID is assigned by the store: 1, 2, 3...
	ID      int64
	Trigger string
	// Change is the sequence number of the membership change.
	Change     int64
	Segment    string
	Profile    string
	Kind       Kind
	ChangeTime time.Time
	// DueTime is when to try next (the change time plus the delay, then
	// the retries' backoff).
	DueTime  time.Time
	State    DeliveryState
	Attempts int
	// LastStatus is the HTTP status of the last attempt; 0 when it got no
	// response.
	LastStatus int
	// LastError says why the last attempt failed or was skipped.
	LastError string
	// DoneTime is when the delivery was sent, skipped or given up.
	DoneTime time.Time
}

// TriggerStore keeps triggers, the pending deliveries and their log; the
// deliveries survive restarts.
type TriggerStore interface {
	// CreateTrigger stores a trigger or returns an error wrapping
	// ErrTriggerExists.
	CreateTrigger(ctx context.Context, t Trigger) error
	// GetTrigger returns a trigger or an error wrapping ErrTriggerNotFound.
	GetTrigger(ctx context.Context, id string) (Trigger, error)
	// ListTriggers returns up to limit triggers with ids after after, by id.
	ListTriggers(ctx context.Context, after string, limit int) ([]Trigger, error)
	// TriggerCursor returns the position in the change log up to which
	// deliveries have been created.
	TriggerCursor(ctx context.Context) (int64, error)
	// AddDeliveries stores deliveries (numbering them; one already stored
	// for the same trigger and change is left as it is) and moves the
	// trigger cursor to cursor, atomically.
	AddDeliveries(ctx context.Context, cursor int64, deliveries []Delivery) error
	// DueDeliveries returns up to limit pending deliveries of a trigger due
	// at or before now, earliest first.
	DueDeliveries(ctx context.Context, trigger string, now time.Time, limit int) ([]Delivery, error)
	// UpdateDelivery stores the outcome of an attempt: state, attempts, due
	// time, last status and error, done time.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// ListDeliveries returns up to limit deliveries of a trigger with ids
	// below before (all when before is 0), newest first.
	ListDeliveries(ctx context.Context, trigger string, before int64, limit int) ([]Delivery, error)
}

// Signature headers of a webhook.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<unix seconds>.<body>" keyed by the trigger's secret>".
	SignatureHeader = "Barista-Signature"
	// DeliveryHeader carries the delivery id, the same on every retry, for
	// receivers to drop duplicates.
	DeliveryHeader = "Barista-Delivery"
)

// Sign returns the signature header value of body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header value against body and secret, and
// that it was made at most tolerance before now; receivers use it.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("signature %q: want t=<unix seconds>,v1=<hex>", header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature made %s from now; the tolerance is %s", d, tolerance)
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte(header)) {
		return fmt.Errorf("signature does not match the body")
	}
	return nil
}

// Payload is the JSON body of a webhook.
type Payload struct {
	Delivery   int64     `json:"delivery"`
	Trigger    string    `json:"trigger"`
	Segment    string    `json:"segment"`
	Profile    string    `json:"profile"`
	Kind       string    `json:"kind"`
	ChangeTime time.Time `json:"change_time"`
	Attempt    int       `json:"attempt"`
}

// DispatcherOptions adjusts a Dispatcher.
type DispatcherOptions struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Client sends the webhooks; one with a 10s timeout when nil.
	Client *http.Client
	// Backoff is the wait before the first retry, doubled for each later
	// one up to MaxBackoff; 1s and 1h when zero.
	Backoff, MaxBackoff time.Duration
	// MaxAttempts is the most attempts of one delivery; 10 when zero.
	MaxAttempts int
	// Poll is how often workers look for due deliveries; 1s when zero.
	Poll time.Duration
	// Logger receives delivery problems; slog.Default when nil.
	Logger *slog.Logger
}

// Dispatcher turns membership changes into webhook deliveries and sends
// them: one worker per trigger, so that a slow or failing destination
// never delays the others.
type Dispatcher struct {
	store Store
	opts  DispatcherOptions
}

// NewDispatcher returns a Dispatcher over store.
func NewDispatcher(store Store, opts DispatcherOptions) *Dispatcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 10
	}
	if opts.Poll == 0 {
		opts.Poll = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Dispatcher{store: store, opts: opts}
}

// enqueueBatch is the most changes one Enqueue reads at a time.
const enqueueBatch = 500

// Enqueue creates a delivery for every recorded change that matches a
// trigger, from the trigger cursor on, due at the change time plus the
// trigger's delay. It returns how many it created.
func (d *Dispatcher) Enqueue(ctx context.Context) (int, error) {
	created := 0
	for {
		cursor, err := d.store.TriggerCursor(ctx)
		if err != nil {
			return created, err
		}
		changes, err := d.store.ReadChanges(ctx, cursor, enqueueBatch, nil)
		if err != nil || len(changes) == 0 {
			return created, err
		}
		triggers, err := d.store.ListTriggers(ctx, "", 1<<20)
		if err != nil {
			return created, err
		}
		var out []Delivery
		for _, c := range changes {
			for _, t := range triggers {
				// A trigger fires for the changes recorded after it was
				// created, not for the history before it.
				if t.Segment == c.Segment && t.On == c.Kind && !c.Time.Before(t.CreateTime) {
					out = append(out, Delivery{Trigger: t.ID, Change: c.Seq, Segment: c.Segment, Profile: c.Profile,
						Kind: c.Kind, ChangeTime: c.Time, DueTime: c.Time.Add(t.Delay), State: Pending})
				}
			}
		}
		if err := d.store.AddDeliveries(ctx, changes[len(changes)-1].Seq, out); err != nil {
			return created, err
		}
		created += len(out)
	}
}

// deliverBatch is the most deliveries of one trigger one pass sends.
const deliverBatch = 100

// DeliverDue sends the due deliveries of one trigger, one after the other,
// and returns how many it attempted. Each is re-checked first: a profile
// that no longer has the membership the change gave it is skipped.
func (d *Dispatcher) DeliverDue(ctx context.Context, trigger string) (int, error) {
	t, err := d.store.GetTrigger(ctx, trigger)
	if err != nil {
		return 0, err
	}
	due, err := d.store.DueDeliveries(ctx, trigger, d.opts.Now(), deliverBatch)
	if err != nil {
		return 0, err
	}
	for _, del := range due {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := d.store.UpdateDelivery(ctx, d.attempt(ctx, t, del)); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// attempt re-checks and sends one delivery and returns it updated.
func (d *Dispatcher) attempt(ctx context.Context, t Trigger, del Delivery) Delivery {
	memberships, err := d.store.ProfileMemberships(ctx, del.Profile)
	if err != nil {
		return d.retry(del, 0, fmt.Errorf("re-check: %w", err))
	}
	member := false
	for _, m := range memberships {
		member = member || m.Segment == del.Segment
	}
	if member != (del.Kind == Entered) {
		del.State, del.DoneTime = Skipped, d.opts.Now()
		del.LastError = fmt.Sprintf("re-check: the profile is no longer %s the segment", map[bool]string{true: "out of", false: "in"}[del.Kind == Exited])
		return del
	}
	if t.RequiredConsent != "" || del.Kind == Exited {
		p, err := d.profile(ctx, del.Profile)
		if err != nil {
			return d.retry(del, 0, fmt.Errorf("re-check: %w", err))
		}
		switch {
		case p == nil && del.Kind == Exited:
			// A profile merged into another leaves its segments, but the
			// person did not: the survivor's own changes tell what happened.
			del.State, del.DoneTime = Skipped, d.opts.Now()
			del.LastError = "re-check: the profile no longer exists (merged into another profile)"
			return del
		case t.RequiredConsent != "" && (p == nil || !p.Consents[t.RequiredConsent]):
			del.State, del.DoneTime = Skipped, d.opts.Now()
			del.LastError = fmt.Sprintf("consent: the profile has not granted %q consent", t.RequiredConsent)
			return del
		}
	}
	del.Attempts++
	body, err := json.Marshal(Payload{Delivery: del.ID, Trigger: "triggers/" + t.ID, Segment: "segments/" + del.Segment,
		Profile: del.Profile, Kind: del.Kind.String(), ChangeTime: del.ChangeTime, Attempt: del.Attempts})
	if err != nil {
		return d.retry(del, 0, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return d.retry(del, 0, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(t.Secret, d.opts.Now(), body))
	req.Header.Set(DeliveryHeader, strconv.FormatInt(del.ID, 10))
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return d.retry(del, 0, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return d.retry(del, resp.StatusCode, fmt.Errorf("the endpoint answered %s", resp.Status))
	}
	del.State, del.LastStatus, del.LastError, del.DoneTime = Sent, resp.StatusCode, "", d.opts.Now()
	return del
}

// profile returns what the store keeps of a profile (traits and consents,
// no facts), or nil when it keeps nothing: the profile was merged away,
// erased, or never seen.
func (d *Dispatcher) profile(ctx context.Context, name string) (*Profile, error) {
	var p *Profile
	err := d.store.Update(ctx, func(tx Tx) error {
		ps, err := tx.Profiles(ctx, []string{name}, nil)
		p = ps[name]
		return err
	})
	return p, err
}

// retry records a failed attempt and schedules the next one after an
// exponential backoff, or gives up after the last attempt.
func (d *Dispatcher) retry(del Delivery, status int, err error) Delivery {
	del.LastStatus, del.LastError = status, err.Error()
	if del.Attempts >= d.opts.MaxAttempts {
		del.State, del.DoneTime = Failed, d.opts.Now()
		return del
	}
	wait := d.opts.Backoff
	for i := 1; i < del.Attempts && wait < d.opts.MaxBackoff; i++ {
		wait *= 2
	}
	del.DueTime = d.opts.Now().Add(min(wait, d.opts.MaxBackoff))
	return del
}

// Run creates deliveries as changes are recorded and keeps one worker per
// trigger sending them, until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	workers := map[string]bool{}
	for {
		if _, err := d.Enqueue(ctx); err != nil && ctx.Err() == nil {
			d.opts.Logger.ErrorContext(ctx, "creating webhook deliveries failed; retrying", "error", err)
		}
		triggers, err := d.store.ListTriggers(ctx, "", 1<<20)
		if err != nil && ctx.Err() == nil {
			d.opts.Logger.ErrorContext(ctx, "listing triggers failed; retrying", "error", err)
		}
		for _, t := range triggers {
			if workers[t.ID] {
				continue
			}
			workers[t.ID] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.work(ctx, t.ID)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.opts.Poll):
		}
	}
}

// work sends one trigger's deliveries as they come due, until ctx ends.
func (d *Dispatcher) work(ctx context.Context, trigger string) {
	for {
		n, err := d.DeliverDue(ctx, trigger)
		if err != nil && ctx.Err() == nil {
			d.opts.Logger.ErrorContext(ctx, "sending webhooks failed; retrying", "trigger", trigger, "error", err)
		}
		if n == deliverBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.opts.Poll):
		}
	}
}

// CreateTrigger stores a trigger created now, which fires for the changes
// recorded from now on. It returns an error wrapping ErrNotFound for an
// unknown segment or ErrTriggerExists for a taken id.
func (e *Engine) CreateTrigger(ctx context.Context, t Trigger) (Trigger, error) {
	t.CreateTime = e.clock()
	if err := e.store.CreateTrigger(ctx, t); err != nil {
		return Trigger{}, err
	}
	return t, nil
}

// GetTrigger returns a trigger or an error wrapping ErrTriggerNotFound.
func (e *Engine) GetTrigger(ctx context.Context, id string) (Trigger, error) {
	return e.store.GetTrigger(ctx, id)
}

// ListTriggers returns up to limit triggers after the id after, by id.
func (e *Engine) ListTriggers(ctx context.Context, after string, limit int) ([]Trigger, error) {
	return e.store.ListTriggers(ctx, after, limit)
}

// ListDeliveries returns up to limit deliveries of an existing trigger
// with ids below before (all when 0), newest first.
func (e *Engine) ListDeliveries(ctx context.Context, trigger string, before int64, limit int) ([]Delivery, error) {
	if _, err := e.store.GetTrigger(ctx, trigger); err != nil {
		return nil, err
	}
	return e.store.ListDeliveries(ctx, trigger, before, limit)
}
