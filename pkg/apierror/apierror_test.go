package apierror_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		message  string
		internal bool
	}{
		{"not found", fmt.Errorf("segment segments/x: %w", apierror.ErrNotFound), codes.NotFound, "segment segments/x: not found", false},
		{"already exists", fmt.Errorf("segment x: %w", apierror.ErrAlreadyExists), codes.AlreadyExists, "segment x: already exists", false},
		{"precondition", apierror.ErrFailedPrecondition, codes.FailedPrecondition, "failed precondition", false},
		{"exhausted", apierror.ErrResourceExhausted, codes.ResourceExhausted, "resource exhausted", false},
		{"unavailable", apierror.ErrUnavailable, codes.Unavailable, "unavailable", false},
		{"invalid", apierror.Invalid("events[1].identifiers", "at least one identifier is required"), codes.InvalidArgument, "events[1].identifiers: at least one identifier is required", false},
		{"canceled", context.Canceled, codes.Canceled, "request canceled", false},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded", false},
		{"status passes through", status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied, "no", false},
		{"unknown hides its cause", errors.New("pq: password for user x"), codes.Internal, "internal error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, internal := apierror.ToStatus(tt.err)
			st := status.Convert(err)
			require.Equal(t, tt.code, st.Code())
			require.Equal(t, tt.message, st.Message())
			require.Equal(t, tt.internal, internal)
		})
	}
}

func TestInvalidCarriesEveryViolation(t *testing.T) {
	e := apierror.Invalid("segment_id", "must start with a letter").Add("segment.condition", "is required")
	require.Equal(t, "segment_id: must start with a letter (and 1 more)", e.Error())
	err, _ := apierror.ToStatus(fmt.Errorf("create: %w", e))
	var br *errdetails.BadRequest
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			br = d
		case *errdetails.ErrorInfo:
			info = d
		}
	}
	require.NotNil(t, br)
	require.Len(t, br.GetFieldViolations(), 2)
	require.Equal(t, "segment.condition", br.GetFieldViolations()[1].GetField())
	require.Equal(t, apierror.Domain, info.GetDomain())
	require.Equal(t, "INVALID_ARGUMENT", info.GetReason())

	var empty *apierror.InvalidError
	require.NoError(t, empty.OrNil())
	require.Error(t, e.OrNil())
}

func TestToStatusNil(t *testing.T) {
	err, internal := apierror.ToStatus(nil)
	require.NoError(t, err)
	require.False(t, internal)
}

func TestMergeCollectsViolations(t *testing.T) {
	e := &apierror.InvalidError{}
	e.Merge(apierror.Invalid("a", "bad")).Merge(fmt.Errorf("wrapped: %w", apierror.Invalid("b", "worse"))).Merge(errors.New("not a violation")).Merge(nil)
	require.Len(t, e.Violations, 2)
	require.Equal(t, "b", e.Violations[1].Field)
}
