package clvtest

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records how a helper ends the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

// dirOutsideTheRepository runs Dir from an empty directory with CI set to ci.
func dirOutsideTheRepository(t *testing.T, ci string) *recorder {
	t.Chdir(t.TempDir())
	t.Setenv("CI", ci)
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Dir(r)
	}()
	<-done
	return r
}

func TestDirFailsInCIWhenTheDataIsMissing(t *testing.T) {
	r := dirOutsideTheRepository(t, "true")
	require.Contains(t, r.fatal, "the CDNOW sample")
	require.Contains(t, r.fatal, "is missing")
	require.Empty(t, r.skip)
}

func TestDirSkipsOutsideCIWhenTheDataIsMissing(t *testing.T) {
	r := dirOutsideTheRepository(t, "")
	require.Contains(t, r.skip, "is missing")
	require.Empty(t, r.fatal)
}

func TestDirFindsTheData(t *testing.T) {
	require.FileExists(t, Dir(t)+"/CDNOW_sample.txt")
	require.Len(t, Summaries(t), Customers)
}
