package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/internal/cli"
)

// readmeCommands returns the `./barista ...` command lines of the README's
// walk-through and of its segment preview, update, history and archiving
// examples, in order, split into arguments as a shell would.
func readmeCommands(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("../../README.md")
	require.NoError(t, err)
	defer f.Close()
	var cmds [][]string
	inWalkThrough, inCode := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inWalkThrough = line == "## Walk-through"
		case strings.HasPrefix(line, "### "):
			inWalkThrough = line == "### Preview, update, history" || line == "### Membership history and archiving"
		case strings.HasPrefix(line, "```"):
			inCode = !inCode
		case inWalkThrough && inCode && strings.HasPrefix(line, "./barista "):
			cmds = append(cmds, shellWords(t, strings.TrimPrefix(line, "./barista ")))
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, cmds, "the README walk-through has no ./barista commands")
	return cmds
}

// shellWords splits a command line with single and double quotes and a
// trailing comment, as the README's commands use them.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '#' && !inWord:
			// A comment runs to the end of the line.
			return words
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.Zero(t, quote, "unbalanced quote in %q", line)
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestReadmeWalkThrough runs every CLI command of the README's walk-through,
// verbatim, against a dev server, and checks what the README says happens.
func TestReadmeWalkThrough(t *testing.T) {
	_, srv := startDev(t, "", nil)
	t.Setenv("BARISTA_ADDR", srv.GRPCAddr)

	run := func(args []string) (string, int) {
		var out, errOut bytes.Buffer
		code := cli.Execute(context.Background(), args, &out, &errOut)
		return out.String() + errOut.String(), code
	}
	cmds := readmeCommands(t)
	t.Logf("running %d README commands", len(cmds))
	for _, args := range cmds {
		if args[0] == "segment" && args[1] == "watch" {
			continue // follows forever; covered by the watch tests
		}
		out, code := run(args)
		require.Zero(t, code, "barista %s:\n%s", strings.Join(args, " "), out)
		if args[0] == "event" && strings.Contains(strings.Join(args, " "), "Order Completed") {
			// The next commands read what the order caused; a person pasting
			// them gives delivery the moment it needs.
			eventually(t, "the order to reach the segment service", func() bool {
				out, code := run([]string{"segment", "of", "user_id:42"})
				return code == 0 && strings.Contains(out, "buyers")
			})
		}
	}

	out, code := run([]string{"segment", "of", "email:ana@example.com"})
	require.Zero(t, code, out)
	require.Contains(t, out, "buyers")
	out, code = run([]string{"metrics", "segment", "buyers", "-o", "json"})
	require.Zero(t, code, out)
	// protojson varies its whitespace on purpose; match the value, not the spacing.
	require.Regexp(t, `"size":\s+"1"`, out)
	out, code = run([]string{"profile", "get", "anonymous_id:a1"})
	require.Zero(t, code, out)
	require.Contains(t, out, "email:ana@example.com")
	require.Contains(t, out, "London")

	out, code = run([]string{"segment", "create", "Bad", "--condition", "true"})
	require.Equal(t, 1, code)
	require.Contains(t, out, "InvalidArgument: segment_id")
}
