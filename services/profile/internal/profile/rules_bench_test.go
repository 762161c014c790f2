package profile_test

import (
	"context"
	"testing"
	"time"

	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// BenchmarkRulesOverhead resolves a known visitor (the path most events
// take) under the default rules and under bare rules (one user id, no junk
// list, no limits, no shared types), alternating in one loop, and reports
// the time ratio rules/bare.
func BenchmarkRulesOverhead(b *testing.B) {
	ctx := context.Background()
	off := false
	bare, err := profile.Rules{BuiltinJunk: &off, Limits: []profile.Limit{{Type: "user_id", Max: 1}}, SharedTypes: []string{}}.Compile()
	if err != nil {
		b.Fatal(err)
	}
	req := profile.Request{Identifiers: []profile.Identifier{
		{Type: "anonymous_id", Value: "9b2f1c44-6f0e-4c1b-a7d5-3c2e8f0a1b2c"}, {Type: "user_id", Value: "42"}, {Type: "email", Value: "ana@example.com"},
	}}
	graphs := map[string]*profile.Graph{}
	for name, policy := range map[string]*profile.Policy{"bare": bare, "rules": profile.DefaultPolicy()} {
		g := profile.NewGraph(memory.New(), profile.Options{Policy: policy})
		if _, err := g.Resolve(ctx, req); err != nil {
			b.Fatal(err)
		}
		graphs[name] = g
	}
	spent := map[string]time.Duration{}
	for b.Loop() {
		for _, name := range []string{"bare", "rules"} {
			start := time.Now()
			if _, err := graphs[name].Resolve(ctx, req); err != nil {
				b.Fatal(err)
			}
			spent[name] += time.Since(start)
		}
	}
	b.ReportMetric(float64(spent["rules"])/float64(spent["bare"]), "rules/bare")
}
