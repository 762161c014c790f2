package cli_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSegmentTriggersCommands(t *testing.T) {
	addr := startSegmentAPI(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}
	code, _, stderr := run("segment", "templates", "install", "cart-abandoners")
	require.Zero(t, code, stderr)

	code, _, stderr = run("segment", "triggers", "create", "reminder", "--segment", "cart-abandoners", "--on", "stay",
		"--url", "https://hooks.example.com/b", "--secret", "0123456789abcdef")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `--on is enter or exit, not "stay"`)
	code, _, stderr = run("segment", "triggers", "create", "reminder", "--segment", "cart-abandoners",
		"--url", "https://hooks.example.com/b", "--secret", "short")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "trigger.secret")

	code, out, stderr := run("segment", "triggers", "create", "reminder", "--segment", "cart-abandoners", "--on", "enter", "--delay", "4h",
		"--url", "https://hooks.example.com/b", "--secret", "0123456789abcdef")
	require.Zero(t, code, stderr)
	require.Regexp(t, `DELAY\s+4h0m0s`, out)
	require.NotContains(t, out, "0123456789abcdef")

	code, out, stderr = run("segment", "triggers")
	require.Zero(t, code, stderr)
	require.Regexp(t, `reminder\s+cart-abandoners\s+enter\s+4h0m0s\s+https://hooks.example.com/b`, out)

	code, out, stderr = run("segment", "triggers", "deliveries", "reminder")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "DELIVERY")
	code, _, stderr = run("segment", "triggers", "deliveries", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound")
}
