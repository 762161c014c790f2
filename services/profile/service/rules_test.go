package service_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/app"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/service"
)

func TestRulesFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(good, []byte("limits: [{type: user_id, max: 1}, {type: email, max: 2}]\nshared_types: []\n"), 0o600))
	conn := serve(t, app.Env{Flags: map[string]string{service.RulesFlag: good}}, service.Spec)
	resp, err := profilev1.NewProfileServiceClient(conn).GetMergeRules(context.Background(), &profilev1.GetMergeRulesRequest{})
	require.NoError(t, err)
	require.Len(t, resp.GetRules().GetLimits(), 2)
	require.Equal(t, "email", resp.GetRules().GetLimits()[1].GetType())
	require.Empty(t, resp.GetRules().GetSharedTypes())

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("limits: [{type: email, max: 2}]\n"), 0o600))
	_, err = service.Spec.New(context.Background(), app.Env{Flags: map[string]string{service.RulesFlag: bad}})
	require.ErrorContains(t, err, "user_id")
	_, err = service.Spec.New(context.Background(), app.Env{Flags: map[string]string{service.RulesFlag: filepath.Join(dir, "missing.yaml")}})
	require.Error(t, err)
}
