package metrics

import (
	"cmp"
	"slices"
	"time"
)

// day is the length of a UTC day.
const day = 24 * time.Hour

// MaxRangeDays bounds the days of a report's range.
const MaxRangeDays = 3660

// Population is the activity of a set of profiles over a range of days
// (see the Population message of the metrics API for the definitions).
type Population struct {
	// Profiles counts the profiles; MemberDays their member-days.
	Profiles, MemberDays int64
	// Converted counts the profiles with an order.
	Converted int64
	// Orders and Revenue add up the orders.
	Orders  int64
	Revenue float64
	// Opened, Clicked and Unsubscribed count the profiles with at least
	// one such email event.
	Opened, Clicked, Unsubscribed int64
}

// Ratio returns n / d, or 0 when d is 0.
func Ratio[N int64 | float64](n, d N) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// add counts one profile's activity over its days in the population.
func (p *Population) add(days []ProfileDay) {
	var a ProfileDay
	for _, d := range days {
		a.Add(d)
	}
	p.Orders += a.Orders
	p.Revenue += a.Revenue
	p.Converted += b2i(a.Orders > 0)
	p.Opened += b2i(a.Opens > 0)
	p.Clicked += b2i(a.Clicks > 0)
	p.Unsubscribed += b2i(a.Unsubscribes > 0)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Report is how a segment performed over a range of days.
type Report struct {
	// Segment is the segment id.
	Segment string
	// From and To are the first and last day of the range.
	From, To time.Time
	// StartSize is the size at the end of the day before From; EndSize at
	// the end of To.
	StartSize, EndSize int64
	// History holds every day of the range, oldest first.
	History []Day
	// Members is the segment's population; All that of every profile.
	Members, All Population
}

// span is a run of whole days, first to last included.
type span struct{ first, last time.Time }

// memberSpans returns, per profile, the runs of days on which it was a
// member (at any moment of the UTC day) according to changes, one
// segment's changes ordered by time then position; runs are sorted and
// disjoint. An entry while a member and an exit while not one change
// nothing. A membership still open runs to until.
func memberSpans(changes []Change, until time.Time) map[string][]span {
	entered := map[string]time.Time{}
	spans := map[string][]span{}
	push := func(profile string, s span) {
		ss := spans[profile]
		if n := len(ss); n > 0 && !s.first.After(ss[n-1].last.Add(day)) {
			ss[n-1].last = maxTime(ss[n-1].last, s.last)
			return
		}
		spans[profile] = append(ss, s)
	}
	for _, c := range changes {
		start, in := entered[c.Profile]
		switch {
		case c.Kind == Entered && !in:
			entered[c.Profile] = c.Time
		case c.Kind == Exited && in:
			delete(entered, c.Profile)
			if c.Time.After(start) {
				// The last day with a moment of membership is the day of
				// the instant just before the exit.
				push(c.Profile, span{DateOf(start), DateOf(c.Time.Add(-time.Nanosecond))})
			}
		}
	}
	for profile, start := range entered {
		if s := DateOf(start); !s.After(until) {
			push(profile, span{s, until})
		}
	}
	return spans
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// within clips spans to the days from from to to, dropping those outside.
func within(spans []span, from, to time.Time) []span {
	var out []span
	for _, s := range spans {
		f, l := maxTime(s.first, from), s.last
		if l.After(to) {
			l = to
		}
		if !f.After(l) {
			out = append(out, span{f, l})
		}
	}
	return out
}

// contains reports whether date is a day of one of spans.
func contains(spans []span, date time.Time) bool {
	for _, s := range spans {
		if !date.Before(s.first) && !date.After(s.last) {
			return true
		}
	}
	return false
}

// days counts the days from from to to, both included.
func days(from, to time.Time) int64 {
	return int64(to.Sub(from)/day) + 1
}

// groupByProfile splits activity, sorted by profile, into each profile's
// days.
func groupByProfile(activity []ProfileDay) map[string][]ProfileDay {
	out := map[string][]ProfileDay{}
	for i := 0; i < len(activity); {
		j := i + 1
		for j < len(activity) && activity[j].Profile == activity[i].Profile {
			j++
		}
		out[activity[i].Profile] = activity[i:j]
		i = j
	}
	return out
}

// Everyone returns the population of all profiles: profiles is the count
// of profiles known by the end of to, activity every profile's days from
// from to to.
func Everyone(profiles int64, activity []ProfileDay, from, to time.Time) Population {
	p := Population{Profiles: profiles, MemberDays: profiles * days(from, to)}
	for _, ds := range groupByProfile(activity) {
		p.add(ds)
	}
	return p
}

// Members returns the population of a segment from its changes (ordered
// by time then position, all before the end of to) and the activity of
// every profile from from to to: the profiles with a member-day in the
// range, and their activity on their member-days. keep, when not nil,
// selects the profiles counted.
func Members(changes []Change, activity map[string][]ProfileDay, from, to time.Time, keep func(profile string) bool) Population {
	var p Population
	for profile, spans := range memberSpans(changes, to) {
		spans = within(spans, from, to)
		if len(spans) == 0 || (keep != nil && !keep(profile)) {
			continue
		}
		p.Profiles++
		for _, s := range spans {
			p.MemberDays += days(s.first, s.last)
		}
		var member []ProfileDay
		for _, d := range activity[profile] {
			if contains(spans, d.Date) {
				member = append(member, d)
			}
		}
		p.add(member)
	}
	return p
}

// SizeHistory returns every day from from to to with its movement and the
// size at its end, from a segment's days with changes (oldest first), and
// the size at the end of the day before from.
func SizeHistory(history []Day, from, to time.Time) (start int64, out []Day) {
	i := 0
	for ; i < len(history) && history[i].Date.Before(from); i++ {
		start = history[i].Size
	}
	size := start
	for d := from; !d.After(to); d = d.Add(day) {
		row := Day{Date: d, Size: size}
		if i < len(history) && history[i].Date.Equal(d) {
			row = history[i]
			i++
		}
		size = row.Size
		out = append(out, row)
	}
	return start, out
}

// MembersAt returns the profiles that are members of the segment at time
// at, from its changes ordered by time then position.
func MembersAt(changes []Change, at time.Time) map[string]bool {
	in := map[string]bool{}
	for _, c := range changes {
		if !c.Time.Before(at) {
			break
		}
		switch c.Kind {
		case Entered:
			in[c.Profile] = true
		case Exited:
			delete(in, c.Profile)
		}
	}
	return in
}

// None is the migration group of the profiles in none of the segments.
const None = "none"

// MigrationRow is where the profiles of one group went.
type MigrationRow struct {
	// From is a segment id, or None.
	From string
	// Profiles counts the group's profiles at the end of the from day.
	Profiles int64
	// Counts holds, per group in the matrix's order, the row's profiles in
	// that group at the end of the to day.
	Counts []int64
}

// Migration is the matrix of moves between segments from one day to
// another.
type Migration struct {
	// From and To are the days compared (membership at their end).
	From, To time.Time
	// Groups holds the segment ids in request order, then None.
	Groups []string
	// Rows holds one row per group.
	Rows []MigrationRow
}

// Migrate builds the migration matrix of segments (ids, with their changes
// ordered by time then position) between the ends of the days from and
// to; known counts the profiles known by the end of to.
func Migrate(segments []string, changes map[string][]Change, known int64, from, to time.Time) Migration {
	n := len(segments)
	m := Migration{From: from, To: to, Groups: append(slices.Clone(segments), None)}
	before, after := make([]map[string]bool, n), make([]map[string]bool, n)
	inAny := func(sets []map[string]bool, profile string) bool {
		return slices.ContainsFunc(sets, func(s map[string]bool) bool { return s[profile] })
	}
	everyone := map[string]bool{}
	for i, s := range segments {
		before[i] = MembersAt(changes[s], from.Add(day))
		after[i] = MembersAt(changes[s], to.Add(day))
		for p := range before[i] {
			everyone[p] = true
		}
		for p := range after[i] {
			everyone[p] = true
		}
	}
	// groups returns the indexes of the groups a profile is in.
	groups := func(sets []map[string]bool, profile string) []int {
		var out []int
		for i, s := range sets {
			if s[profile] {
				out = append(out, i)
			}
		}
		if len(out) == 0 {
			out = []int{n}
		}
		return out
	}
	m.Rows = make([]MigrationRow, n+1)
	for i := range m.Rows {
		m.Rows[i] = MigrationRow{From: m.Groups[i], Counts: make([]int64, n+1)}
	}
	for p := range everyone {
		for _, i := range groups(before, p) {
			for _, j := range groups(after, p) {
				m.Rows[i].Counts[j]++
			}
		}
	}
	// The known profiles in no segment on either day stay in none.
	m.Rows[n].Counts[n] += max(known-int64(len(everyone)), 0)
	for i := range m.Rows {
		if i < n {
			m.Rows[i].Profiles = int64(len(before[i]))
			continue
		}
		for p := range everyone {
			if !inAny(before, p) {
				m.Rows[n].Profiles++
			}
		}
		m.Rows[n].Profiles += max(known-int64(len(everyone)), 0)
	}
	return m
}

// SortChanges orders changes by time then position, as
// Store.Memberships returns them.
func SortChanges(changes []Change) {
	slices.SortFunc(changes, func(a, b Change) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Seq, b.Seq))
	})
}
