package cli_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/pkg/ident"
)

// valueServer serves LookupProfile (ana's email is profiles/ana) and the
// metrics value RPCs, recording the metrics requests.
type valueServer struct {
	profilev1.UnimplementedProfileServiceServer
	metricsv1.UnimplementedMetricsServiceServer
	mu       sync.Mutex
	requests []proto.Message
}

func (s *valueServer) LookupProfile(_ context.Context, req *profilev1.LookupProfileRequest) (*profilev1.LookupProfileResponse, error) {
	if ident.String(req.GetIdentifier()) != "email:ana@example.com" {
		return nil, status.Errorf(codes.NotFound, "no profile holds %s", ident.String(req.GetIdentifier()))
	}
	return &profilev1.LookupProfileResponse{Profile: &profilev1.Profile{Name: "profiles/ana"}}, nil
}

func (s *valueServer) record(req proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}

func (s *valueServer) GetStoreStatistics(_ context.Context, req *metricsv1.GetStoreStatisticsRequest) (*metricsv1.GetStoreStatisticsResponse, error) {
	s.record(req)
	return &metricsv1.GetStoreStatisticsResponse{Statistics: &metricsv1.StoreStatistics{
		StartDate: "2025-04-02", EndDate: "2025-06-30", Orders: 5, Revenue: 180, Customers: 3, AverageOrderValue: 36,
		OrderValueP25: 20, OrderValueP50: 30, OrderValueP75: 60, OrderValueP90: 60, OrderValueP99: 60,
	}}, nil
}

func (s *valueServer) GetProfileValue(_ context.Context, req *metricsv1.GetProfileValueRequest) (*metricsv1.GetProfileValueResponse, error) {
	s.record(req)
	v := &metricsv1.ProfileValue{
		Profile: req.GetProfile(), StartDate: "2024-07-01", EndDate: "2025-06-30", HorizonDays: 90,
		Rfm:           &metricsv1.RFM{HasOrders: true, RecencyDays: 1, Frequency: 2, Monetary: 40, RecencyScore: 2, FrequencyScore: 3, MonetaryScore: 4, Customers: 3},
		HistoricalClv: 1040, OrdersToDate: 3,
	}
	if req.GetProfile() == "profiles/ana" {
		v.Prediction = &metricsv1.CustomerValuePrediction{PAlive: 0.8125, ExpectedPurchases: 1.5, ExpectedAverageSpend: 25, PredictedClv: 37.25, FittedCustomers: 30}
	} else {
		v.PredictionUnavailableReason = "not enough data: BG/NBD needs at least 10 customers with repeat purchases, got 1 of 3 customers"
	}
	return &metricsv1.GetProfileValueResponse{Value: v}, nil
}

func startValueServer(t *testing.T) (*valueServer, string) {
	t.Helper()
	s := &valueServer{}
	srv := grpc.NewServer()
	profilev1.RegisterProfileServiceServer(srv, s)
	metricsv1.RegisterMetricsServiceServer(srv, s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s, lis.Addr().String()
}

func TestMetricsCustomerCommand(t *testing.T) {
	s, addr := startValueServer(t)
	code, out, stderr := runCLI(t, "--addr", addr, "metrics", "customer", "email:ana@example.com", "--window", "180d", "--horizon", "90", "--discount", "0.01", "--to", "2025-06-30")
	require.Zero(t, code, stderr)
	require.Len(t, s.requests, 1)
	require.True(t, proto.Equal(&metricsv1.GetProfileValueRequest{
		Profile: "profiles/ana", EndDate: "2025-06-30", WindowDays: 180, HorizonDays: 90, MonthlyDiscountRate: 0.01,
	}, s.requests[0]), "%v", s.requests[0])
	require.Regexp(t, `PROFILE +profiles/ana`, out)
	require.Regexp(t, `RFM +234 \(of 3 customers\)`, out)
	require.Regexp(t, `HISTORICAL CLV +1040.00 \(3 orders to date\)`, out)
	require.Regexp(t, `P\(ALIVE\) +0.812`, out)
	require.Regexp(t, `PREDICTED CLV \(90d\) +37.25`, out)

	code, out, stderr = runCLI(t, "--addr", addr, "metrics", "customer", "profiles/bob")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "unavailable: not enough data")

	code, _, stderr = runCLI(t, "--addr", addr, "metrics", "customer", "email:nobody@example.com")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no profile holds email:nobody@example.com")

	code, _, stderr = runCLI(t, "--addr", addr, "metrics", "customer", "profiles/ana", "--window", "a year")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `--window "a year": want a number of days such as 365d`)
}

func TestMetricsStoreCommand(t *testing.T) {
	s, addr := startValueServer(t)
	code, out, stderr := runCLI(t, "--addr", addr, "metrics", "store", "--window", "90d", "--to", "2025-06-30")
	require.Zero(t, code, stderr)
	require.True(t, proto.Equal(&metricsv1.GetStoreStatisticsRequest{EndDate: "2025-06-30", WindowDays: 90}, s.requests[0]))
	require.Regexp(t, `RANGE +2025-04-02 to 2025-06-30`, out)
	require.Regexp(t, `AVERAGE ORDER VALUE +36.00`, out)
	require.Regexp(t, `ORDER VALUE P90 +60.00`, out)
}
