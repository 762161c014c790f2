package segment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func TestSignAndVerify(t *testing.T) {
	at := time.Unix(1_750_000_000, 0)
	body := []byte(`{"delivery":1}`)
	sig := segment.Sign("s3cret", at, body)
	require.Regexp(t, `^t=1750000000,v1=[0-9a-f]{64}$`, sig)
	require.NoError(t, segment.Verify("s3cret", sig, body, at.Add(time.Minute), 5*time.Minute))

	require.ErrorContains(t, segment.Verify("other", sig, body, at, 5*time.Minute), "does not match")
	require.ErrorContains(t, segment.Verify("s3cret", sig, []byte(`{"delivery":2}`), at, 5*time.Minute), "does not match")
	require.ErrorContains(t, segment.Verify("s3cret", sig, body, at.Add(time.Hour), 5*time.Minute), "the tolerance is 5m0s")
	require.ErrorContains(t, segment.Verify("s3cret", "v1=abc", body, at, 5*time.Minute), "want t=<unix seconds>,v1=<hex>")
	require.ErrorContains(t, segment.Verify("s3cret", sig+"0", body, at, 5*time.Minute), "does not match")
}
