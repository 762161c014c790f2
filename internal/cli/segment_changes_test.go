package cli_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSegmentChangesCommand(t *testing.T) {
	addr := startSegmentAPI(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}
	code, _, stderr := run("segment", "create", "buyers", "--condition", `count("Order Completed") >= 1`)
	require.Zero(t, code, stderr)

	code, out, stderr := run("segment", "changes", "buyers")
	require.Zero(t, code, stderr)
	require.Regexp(t, `CURSOR\s+TIME\s+CHANGE\s+PROFILE\s+REVISION\s+REASON`, out)

	code, _, stderr = run("segment", "changes", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound")
	code, _, stderr = run("segment", "changes", "buyers", "--profile", "not-an-identifier")
	require.Equal(t, 1, code)
	require.NotEmpty(t, stderr)
	code, _, stderr = run("segment", "changes", "buyers", "--profile", "email:ana@example.com")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "profile service")
}

func TestSegmentArchiveCommand(t *testing.T) {
	addr := startSegmentAPI(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}
	for _, c := range [][]string{{"buyers", `count("Order Completed") >= 1`}, {"loyal", `in_segment("buyers")`}, {"summer", `count("Order Completed", "30d") >= 1`}} {
		code, _, stderr := run("segment", "create", c[0], "--condition", c[1])
		require.Zero(t, code, stderr)
	}
	code, _, stderr := run("segment", "archive", "buyers", "--author", "ana@example.com", "--reason", "unused")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "FailedPrecondition")
	require.Contains(t, stderr, "segments/loyal")
	code, _, stderr = run("segment", "archive", "summer")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "author")

	code, out, stderr := run("segment", "archive", "summer", "--author", "ana@example.com", "--reason", "campaign over")
	require.Zero(t, code, stderr)
	require.Regexp(t, `ARCHIVED\s+\d{4}-`, out)
	require.Regexp(t, `REASON\s+campaign over`, out)

	code, out, stderr = run("segment", "list")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "loyal")
	require.NotContains(t, out, "summer")
	code, out, stderr = run("segment", "list", "--archived")
	require.Zero(t, code, stderr)
	require.Regexp(t, `summer\s+2\s+\d{4}-`, out)
	code, out, stderr = run("segment", "history", "summer")
	require.Zero(t, code, stderr)
	require.Regexp(t, `2\s+\S+\s+ana@example.com\s+campaign over`, out)
}
