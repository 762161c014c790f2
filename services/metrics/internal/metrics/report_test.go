package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// jun returns a time on day d of June 2025 at hour h, UTC.
func jun(d, h int) time.Time { return time.Date(2025, 6, d, h, 0, 0, 0, time.UTC) }

func may(d, h int) time.Time { return time.Date(2025, 5, d, h, 0, 0, 0, time.UTC) }

func ch(seq int64, segment, profile string, kind metrics.Kind, at time.Time) metrics.Change {
	return metrics.Change{Seq: seq, Segment: segment, Profile: "profiles/" + profile, Kind: kind, Time: at}
}

func pd(profile string, date time.Time, orders int64, revenue float64, opens, clicks, unsubscribes int64) metrics.ProfileDay {
	return metrics.ProfileDay{Profile: "profiles/" + profile, Date: metrics.DateOf(date), Orders: orders, Revenue: revenue, Opens: opens, Clicks: clicks, Unsubscribes: unsubscribes}
}

// buyers is a segment's changes, by time: over June 1 to 3, a is a member
// on June 1 and 2, b on every day, c on June 3, d on none (it left May 31).
// e enters and leaves at the same instant, and f leaves June 1 at midnight:
// neither has a member-day in the range.
func buyers() []metrics.Change {
	changes := []metrics.Change{
		ch(1, "buyers", "d", metrics.Entered, may(1, 0)),
		ch(2, "buyers", "b", metrics.Entered, may(30, 0)),
		ch(3, "buyers", "f", metrics.Entered, may(30, 0)),
		ch(4, "buyers", "d", metrics.Exited, may(31, 23)),
		ch(5, "buyers", "f", metrics.Exited, jun(1, 0)),
		ch(6, "buyers", "a", metrics.Entered, jun(1, 10)),
		ch(7, "buyers", "a", metrics.Entered, jun(1, 11)),
		ch(8, "buyers", "e", metrics.Entered, jun(1, 12)),
		ch(9, "buyers", "e", metrics.Exited, jun(1, 12)),
		ch(10, "buyers", "a", metrics.Exited, jun(2, 9)),
		ch(11, "buyers", "c", metrics.Entered, jun(3, 12)),
	}
	metrics.SortChanges(changes)
	return changes
}

// activity is every profile's days, by profile then date.
func activity() []metrics.ProfileDay {
	return []metrics.ProfileDay{
		pd("a", jun(1, 0), 1, 10, 1, 0, 0),
		pd("a", jun(3, 0), 1, 30, 0, 0, 0), // a is no longer a member
		pd("b", jun(2, 0), 2, 25, 0, 0, 0),
		pd("b", jun(3, 0), 0, 0, 0, 1, 0),
		pd("c", jun(1, 0), 1, 100, 0, 0, 0), // c is not a member yet
		pd("c", jun(3, 0), 0, 0, 0, 0, 1),
		pd("d", jun(2, 0), 1, 40, 0, 0, 0),
		pd("z", jun(2, 0), 0, 0, 1, 0, 0),
	}
}

func byProfile(days []metrics.ProfileDay) map[string][]metrics.ProfileDay {
	out := map[string][]metrics.ProfileDay{}
	for _, d := range days {
		out[d.Profile] = append(out[d.Profile], d)
	}
	return out
}

func TestMembers(t *testing.T) {
	from, to := jun(1, 0), jun(3, 0)
	got := metrics.Members(buyers(), byProfile(activity()), from, to, nil)
	require.Equal(t, metrics.Population{
		Profiles:     3,         // a, b, c
		MemberDays:   2 + 3 + 1, // a: June 1-2, b: June 1-3, c: June 3
		Converted:    2,         // a (June 1) and b (June 2)
		Orders:       3,         // a's June 1 order and b's two
		Revenue:      35,        // 10 + 25
		Opened:       1,         // a on June 1
		Clicked:      1,         // b on June 3
		Unsubscribed: 1,         // c on June 3
	}, got)

	onlyB := metrics.Members(buyers(), byProfile(activity()), from, to, func(p string) bool { return p == "profiles/b" })
	require.Equal(t, metrics.Population{Profiles: 1, MemberDays: 3, Converted: 1, Orders: 2, Revenue: 25, Clicked: 1}, onlyB)

	june2 := metrics.Members(buyers(), byProfile(activity()), jun(2, 0), jun(2, 0), nil)
	require.Equal(t, metrics.Population{Profiles: 2, MemberDays: 2, Converted: 1, Orders: 2, Revenue: 25}, june2,
		"a is a member on June 2 until 9:00, b all day")
}

func TestMembersDaysCountOnceAcrossReentries(t *testing.T) {
	changes := []metrics.Change{
		ch(1, "buyers", "a", metrics.Entered, jun(1, 1)),
		ch(2, "buyers", "a", metrics.Exited, jun(1, 2)),
		ch(3, "buyers", "a", metrics.Entered, jun(1, 3)),
		ch(4, "buyers", "a", metrics.Exited, jun(2, 2)),
		ch(5, "buyers", "a", metrics.Entered, jun(4, 2)),
	}
	got := metrics.Members(changes, nil, jun(1, 0), jun(5, 0), nil)
	require.Equal(t, metrics.Population{Profiles: 1, MemberDays: 4}, got, "June 1, 2, 4 and 5")
}

func TestEveryone(t *testing.T) {
	got := metrics.Everyone(7, activity(), jun(1, 0), jun(3, 0))
	require.Equal(t, metrics.Population{
		Profiles: 7, MemberDays: 21,
		Converted: 4, Orders: 6, Revenue: 205, // a, b, c, d: 40 + 25 + 100 + 40
		Opened: 2, Clicked: 1, Unsubscribed: 1, // a and z; b; c
	}, got)
}

func TestRatio(t *testing.T) {
	require.InDelta(t, 2.0/3, metrics.Ratio[int64](2, 3), 1e-15)
	require.Zero(t, metrics.Ratio[int64](2, 0))
	require.Equal(t, 35.0/205, metrics.Ratio(35.0, 205))
}

func TestSizeHistory(t *testing.T) {
	history := []metrics.Day{
		{Date: may(1, 0), Entered: 1, Size: 1},
		{Date: may(30, 0), Entered: 2, Size: 3},
		{Date: may(31, 0), Exited: 1, Size: 2},
		{Date: jun(1, 0), Entered: 2, Exited: 1, Size: 3},
		{Date: jun(2, 0), Exited: 1, Size: 2},
		{Date: jun(3, 0), Entered: 1, Size: 3},
	}
	start, got := metrics.SizeHistory(history, jun(2, 0), jun(5, 0))
	require.EqualValues(t, 3, start, "the size at the end of June 1")
	require.Equal(t, []metrics.Day{
		{Date: jun(2, 0), Exited: 1, Size: 2},
		{Date: jun(3, 0), Entered: 1, Size: 3},
		{Date: jun(4, 0), Size: 3},
		{Date: jun(5, 0), Size: 3},
	}, got)
	start, got = metrics.SizeHistory(history, may(2, 0), may(3, 0))
	require.EqualValues(t, 1, start)
	require.Equal(t, []metrics.Day{{Date: may(2, 0), Size: 1}, {Date: may(3, 0), Size: 1}}, got)
	start, got = metrics.SizeHistory(history, jun(1, 0).AddDate(-1, 0, 0), jun(1, 0).AddDate(-1, 0, 0))
	require.Zero(t, start)
	require.Equal(t, []metrics.Day{{Date: jun(1, 0).AddDate(-1, 0, 0)}}, got, "before any change")
}

func TestMigrate(t *testing.T) {
	changes := map[string][]metrics.Change{
		"vip": {
			ch(1, "vip", "p1", metrics.Entered, may(31, 0)),
			ch(2, "vip", "p2", metrics.Entered, jun(1, 5)),
			ch(3, "vip", "p2", metrics.Exited, jun(2, 5)),
		},
		"buyers": {
			ch(4, "buyers", "p2", metrics.Entered, jun(2, 6)),
			ch(5, "buyers", "p3", metrics.Entered, jun(3, 1)),
			ch(6, "buyers", "p1", metrics.Entered, jun(3, 2)),
			ch(7, "buyers", "p4", metrics.Entered, jun(4, 0)), // after June 3
		},
	}
	// At the end of June 1: vip {p1, p2}, buyers {}. At the end of June 3:
	// vip {p1}, buyers {p1, p2, p3}. Six profiles are known: p4, p5 and p6
	// are in none on both days.
	got := metrics.Migrate([]string{"vip", "buyers"}, changes, 6, jun(1, 0), jun(3, 0))
	require.Equal(t, metrics.Migration{
		From: jun(1, 0), To: jun(3, 0),
		Groups: []string{"vip", "buyers", metrics.None},
		Rows: []metrics.MigrationRow{
			{From: "vip", Profiles: 2, Counts: []int64{1, 2, 0}},        // p1 stays and joins buyers; p2 moves
			{From: "buyers", Profiles: 0, Counts: []int64{0, 0, 0}},     // empty on June 1
			{From: metrics.None, Profiles: 4, Counts: []int64{0, 1, 3}}, // p3 joins buyers; p4-p6 stay
		},
	}, got)
}

func TestBucketIsDeterministicAndUniform(t *testing.T) {
	// SHA-256("segments/buyers/profiles/p1") starts with bytes whose top 53
	// bits over 2^53 are 0.7821166866647905 (computed with Python's hashlib).
	require.InDelta(t, 0.7821166866647905, metrics.Bucket("buyers", "profiles/p1"), 1e-15)
	require.NotEqual(t, metrics.Bucket("buyers", "profiles/p1"), metrics.Bucket("vip", "profiles/p1"), "segments split apart")
	small := metrics.Experiment{Segment: "buyers", HoldoutShare: 0.1}
	large := metrics.Experiment{Segment: "buyers", HoldoutShare: 0.2}
	var n10, n20 int
	for i := range 10000 {
		p := fmt.Sprintf("profiles/p%d", i)
		if small.Holdout(p) {
			n10++
			require.True(t, large.Holdout(p), "raising the share only adds profiles to the holdout")
		}
		if large.Holdout(p) {
			n20++
		}
	}
	// Binomial(10000, 0.1) has a standard deviation of 30: 5 sigma is 150.
	require.InDelta(t, 1000, n10, 150)
	require.InDelta(t, 2000, n20, 200)
}

func TestZTest(t *testing.T) {
	// Treatment 120/1000, holdout 90/1000. By hand: lift 0.03; pooled
	// p = 210/2000 = 0.105, z = 0.03 / sqrt(0.105 × 0.895 × 0.002) =
	// 2.18827, p-value = erfc(z/√2) = 0.02865; Wald standard error
	// sqrt(0.12 × 0.88/1000 + 0.09 × 0.91/1000) = 0.0136931, interval
	// 0.03 ± 1.96 × 0.0136931 = [0.00316, 0.05684].
	lift, low, high, z, p := metrics.ZTest(metrics.Arm{Profiles: 1000, Converted: 120}, metrics.Arm{Profiles: 1000, Converted: 90})
	require.InDelta(t, 0.03, lift, 1e-12)
	require.InDelta(t, 2.18827, z, 1e-5)
	require.InDelta(t, 0.02865, p, 1e-5)
	require.InDelta(t, 0.00316, low, 1e-5)
	require.InDelta(t, 0.05684, high, 1e-5)
	require.True(t, metrics.Analysis{P: p}.Significant())

	// 11/100 against 10/100: z = 0.01 / sqrt(0.105 × 0.895 × 0.02) =
	// 0.2307, p-value 0.8176.
	_, _, _, z, p = metrics.ZTest(metrics.Arm{Profiles: 100, Converted: 11}, metrics.Arm{Profiles: 100, Converted: 10})
	require.InDelta(t, 0.2307, z, 1e-4)
	require.InDelta(t, 0.8176, p, 1e-4)
	require.False(t, metrics.Analysis{P: p}.Significant())

	for _, tt := range []struct{ treatment, holdout metrics.Arm }{
		{metrics.Arm{Profiles: 10, Converted: 3}, metrics.Arm{}},
		{metrics.Arm{Profiles: 10}, metrics.Arm{Profiles: 5}},
		{metrics.Arm{Profiles: 10, Converted: 10}, metrics.Arm{Profiles: 5, Converted: 5}},
	} {
		lift, low, high, z, p := metrics.ZTest(tt.treatment, tt.holdout)
		require.Equal(t, tt.treatment.Rate()-tt.holdout.Rate(), lift)
		require.Equal(t, []float64{0, 0, 0, 1}, []float64{low, high, z, p}, "%+v", tt)
	}
}

// TestPastDaysSurviveDefinitionChanges checks that a segment redefined on
// June 5, which the segment service reports as every member exiting, keeps
// its members and their activity on earlier days.
func TestPastDaysSurviveDefinitionChanges(t *testing.T) {
	from, to := jun(1, 0), jun(3, 0)
	before := metrics.Members(buyers(), byProfile(activity()), from, to, nil)
	redefined := buyers()
	for i, p := range []string{"b", "c"} {
		redefined = append(redefined, ch(int64(20+i), "buyers", p, metrics.Exited, jun(5, 0)))
	}
	require.Equal(t, before, metrics.Members(redefined, byProfile(activity()), from, to, nil))
	require.Zero(t, metrics.Members(redefined, byProfile(activity()), jun(5, 0), jun(6, 0), nil).Profiles,
		"exits at midnight leave no member-day")
}
