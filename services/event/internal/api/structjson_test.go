package api

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestStructJSON checks that structJSON encodes what protojson encodes, as
// JSON values, and fails where it fails.
func TestStructJSON(t *testing.T) {
	for _, raw := range []string{
		`{}`,
		`{"category":"shoes","price":59.9,"product_id":"p-7","qty":3,"in_stock":true,"coupon":null}`,
		`{"big":1e21,"small":1e-7,"neg":-0.5,"int":9007199254740991,"zero":0,"exp":1.5e300}`,
		`{"quote":"say \"hi\"","back":"a\\b","ctl":"\u0001\n\r\t\u001f","uni":"naïve ☕ 𝄞","html":"<a href='x'>&</a>","sep":"\u2028"}`,
		`{"products":[{"id":"p1","price":10},{"id":"p2","tags":["a",["b",null,true]]}],"empty":{"list":[],"obj":{}}}`,
		`{"ke\"y\n":"v","":"empty key"}`,
	} {
		s := &structpb.Struct{}
		require.NoError(t, protojson.Unmarshal([]byte(raw), s), raw)
		want, err := protojson.Marshal(s)
		require.NoError(t, err)
		got, err := structJSON(s)
		require.NoError(t, err)
		require.True(t, json.Valid(got), "%s", got)
		require.JSONEq(t, string(want), string(got), raw)
	}

	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		s := &structpb.Struct{Fields: map[string]*structpb.Value{"list": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(f)}})}}
		_, wantErr := protojson.Marshal(s)
		require.Error(t, wantErr)
		_, err := structJSON(s)
		require.Error(t, err, "%v", f)
	}

	invalid := &structpb.Struct{Fields: map[string]*structpb.Value{"s": {Kind: &structpb.Value_StringValue{StringValue: "a\xffb"}}}}
	got, err := structJSON(invalid)
	require.NoError(t, err)
	require.JSONEq(t, `{"s":"a\ufffdb"}`, string(got))
}

func BenchmarkStructJSON(b *testing.B) {
	s := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(`{"category":"shoes","price":59.9,"product_id":"p-7","products":[{"id":"p1","price":10}]}`), s); err != nil {
		b.Fatal(err)
	}
	b.Run("protojson", func(b *testing.B) {
		for b.Loop() {
			if _, err := protojson.Marshal(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("structJSON", func(b *testing.B) {
		for b.Loop() {
			if _, err := structJSON(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
