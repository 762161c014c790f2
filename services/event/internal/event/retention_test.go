package event_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

func TestParseRetention(t *testing.T) {
	tests := []struct {
		age, mode string
		want      event.Retention
		err       string
	}{
		{age: "", want: event.Retention{Mode: event.RetentionDelete}},
		{age: "0", mode: "anonymize", want: event.Retention{Mode: event.RetentionAnonymize}},
		{age: "400d", want: event.Retention{MaxAge: 400 * 24 * time.Hour, Mode: event.RetentionDelete}},
		{age: "72h", mode: "delete", want: event.Retention{MaxAge: 72 * time.Hour, Mode: event.RetentionDelete}},
		{age: "-3d", err: "want a number of days"},
		{age: "1y", err: "want a number of days"},
		{age: "10m", err: "at least 1h"},
		{age: "30d", mode: "archive", err: `retention mode "archive"`},
	}
	for _, tt := range tests {
		got, err := event.ParseRetention(tt.age, tt.mode)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.age)
			continue
		}
		require.NoError(t, err, tt.age)
		require.Equal(t, tt.want, got)
	}
}
