package metrics

import (
	"context"
	"fmt"
	"time"
)

// EventCursor returns the position of the last event of the log applied.
func (t *Tracker) EventCursor(ctx context.Context) (int64, error) {
	return t.store.EventCursor(ctx)
}

// ApplyEvents applies one delivered batch of events atomically and stores
// cursor, the position of the batch's last entry. Events at or before the
// stored cursor are skipped, so redelivery is harmless.
func (t *Tracker) ApplyEvents(ctx context.Context, events []Event, cursor int64) (int, error) {
	n, err := t.store.ApplyEvents(ctx, events, cursor)
	if err != nil {
		return 0, fmt.Errorf("apply events up to %d: %w", cursor, err)
	}
	return n, nil
}

// Report returns how segment id performed from from to to (midnights UTC,
// both included); ErrUnknownSegment when neither the store nor the segment
// service knows the segment.
func (t *Tracker) Report(ctx context.Context, id string, from, to time.Time) (Report, error) {
	reports, err := t.Compare(ctx, []string{id}, from, to)
	if err != nil {
		return Report{}, err
	}
	return reports[0], nil
}

// Compare returns the reports of several segments over the same range, in
// the order of ids.
func (t *Tracker) Compare(ctx context.Context, ids []string, from, to time.Time) ([]Report, error) {
	metrics := make([]SegmentMetrics, len(ids))
	for i, id := range ids {
		m, err := t.SegmentMetrics(ctx, id)
		if err != nil {
			return nil, err
		}
		metrics[i] = m
	}
	end := to.Add(day)
	changes, err := t.memberships(ctx, ids, end)
	if err != nil {
		return nil, err
	}
	activity, err := t.store.Activity(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("read activity: %w", err)
	}
	profiles, err := t.store.Profiles(ctx, end)
	if err != nil {
		return nil, fmt.Errorf("count profiles: %w", err)
	}
	all := Everyone(profiles, activity, from, to)
	byProfile := groupByProfile(activity)
	reports := make([]Report, len(ids))
	for i, id := range ids {
		r := Report{Segment: id, From: from, To: to, All: all}
		r.StartSize, r.History = SizeHistory(metrics[i].History, from, to)
		r.EndSize = r.History[len(r.History)-1].Size
		r.Members = Members(changes[id], byProfile, from, to, nil)
		reports[i] = r
	}
	return reports, nil
}

// memberships returns the changes of each segment before before, ordered
// by time then position.
func (t *Tracker) memberships(ctx context.Context, ids []string, before time.Time) (map[string][]Change, error) {
	changes, err := t.store.Memberships(ctx, ids, before)
	if err != nil {
		return nil, fmt.Errorf("read membership changes: %w", err)
	}
	out := make(map[string][]Change, len(ids))
	for _, c := range changes {
		out[c.Segment] = append(out[c.Segment], c)
	}
	return out, nil
}

// Migration returns the matrix of moves between segments ids from the end
// of the day from to the end of the day to.
func (t *Tracker) Migration(ctx context.Context, ids []string, from, to time.Time) (Migration, error) {
	for _, id := range ids {
		if _, err := t.SegmentMetrics(ctx, id); err != nil {
			return Migration{}, err
		}
	}
	end := to.Add(day)
	changes, err := t.memberships(ctx, ids, end)
	if err != nil {
		return Migration{}, err
	}
	known, err := t.store.Profiles(ctx, end)
	if err != nil {
		return Migration{}, fmt.Errorf("count profiles: %w", err)
	}
	return Migrate(ids, changes, known, from, to), nil
}

// Experiment returns the experiment of segment id; ErrNoExperiment when it
// has none.
func (t *Tracker) Experiment(ctx context.Context, id string) (Experiment, error) {
	e, err := t.store.Experiment(ctx, id)
	if err != nil {
		return Experiment{}, fmt.Errorf("segments/%s/experiment: %w", id, err)
	}
	return e, nil
}

// SetExperiment stores e, whose segment must exist, at time now.
func (t *Tracker) SetExperiment(ctx context.Context, e Experiment, now time.Time) (Experiment, error) {
	if _, err := t.SegmentMetrics(ctx, e.Segment); err != nil {
		return Experiment{}, err
	}
	e.UpdateTime = now.UTC().Truncate(time.Microsecond)
	if err := t.store.PutExperiment(ctx, e); err != nil {
		return Experiment{}, fmt.Errorf("store experiment of segments/%s: %w", e.Segment, err)
	}
	return e, nil
}

// Analyze compares the conversion of the treated and held-out members of
// segment id's experiment from from to to.
func (t *Tracker) Analyze(ctx context.Context, id string, from, to time.Time) (Analysis, error) {
	e, err := t.Experiment(ctx, id)
	if err != nil {
		return Analysis{}, err
	}
	changes, err := t.memberships(ctx, []string{id}, to.Add(day))
	if err != nil {
		return Analysis{}, err
	}
	activity, err := t.store.Activity(ctx, from, to)
	if err != nil {
		return Analysis{}, fmt.Errorf("read activity: %w", err)
	}
	byProfile := groupByProfile(activity)
	arm := func(holdout bool) Arm {
		p := Members(changes[id], byProfile, from, to, func(profile string) bool { return e.Holdout(profile) == holdout })
		return Arm{Profiles: p.Profiles, Converted: p.Converted}
	}
	a := Analysis{Experiment: e, From: from, To: to, Treatment: arm(false), Holdout: arm(true)}
	a.Lift, a.Low, a.High, a.Z, a.P = ZTest(a.Treatment, a.Holdout)
	return a, nil
}
