// Package apierror holds the domain error kinds shared by every Barista
// service and is the one place where they become gRPC statuses.
//
// Domain code returns (or wraps with %w) the sentinels below, or an
// *InvalidError for bad input; the server interceptor in pkg/grpcserver calls
// ToStatus on every handler error, so handlers never build statuses by hand.
package apierror

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Domain is the ErrorInfo domain of every Barista error.
const Domain = "barista.dev"

// Sentinel errors. Wrap them with fmt.Errorf("...: %w", ErrNotFound) to add
// the specifics that the caller should see.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrUnavailable        = errors.New("unavailable")
)

// FieldViolation is one problem with one field of a request.
type FieldViolation struct {
	// Field is the path of the field, such as "events[2].identifiers".
	Field string
	// Description says what is wrong and, where it helps, how to fix it.
	Description string
}

// InvalidError reports bad input. It becomes InvalidArgument with a
// BadRequest detail listing every violation.
type InvalidError struct {
	Violations []FieldViolation
}

// Invalid returns an *InvalidError for one field.
func Invalid(field, format string, args ...any) *InvalidError {
	return &InvalidError{Violations: []FieldViolation{{Field: field, Description: fmt.Sprintf(format, args...)}}}
}

func (e *InvalidError) Error() string {
	if len(e.Violations) == 0 {
		return "invalid argument"
	}
	v := e.Violations[0]
	msg := v.Description
	if v.Field != "" {
		msg = v.Field + ": " + v.Description
	}
	if n := len(e.Violations) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Add appends a violation and returns e for chaining.
func (e *InvalidError) Add(field, format string, args ...any) *InvalidError {
	e.Violations = append(e.Violations, FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
	return e
}

// Merge adds the violations of err when it is an *InvalidError and returns
// e, so that validation can collect the violations of helpers that check
// one field each. Any other error is ignored: check it separately.
func (e *InvalidError) Merge(err error) *InvalidError {
	var other *InvalidError
	if errors.As(err, &other) {
		e.Violations = append(e.Violations, other.Violations...)
	}
	return e
}

// OrNil returns e when it holds violations and nil otherwise, so that
// validation code can collect violations and return the result directly.
func (e *InvalidError) OrNil() error {
	if e == nil || len(e.Violations) == 0 {
		return nil
	}
	return e
}

// ToStatus converts err to a gRPC status error. Errors that already are
// statuses pass through; context errors keep their codes; errors of no known
// kind become Internal with a generic message, so internal causes reach logs
// and spans but never callers. The second result says whether err was of no
// known kind (and should be logged as a server fault).
func ToStatus(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	if _, ok := status.FromError(err); ok {
		return err, false
	}
	var invalid *InvalidError
	switch {
	case errors.As(err, &invalid):
		br := &errdetails.BadRequest{}
		for _, v := range invalid.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		return withDetails(codes.InvalidArgument, err.Error(), "INVALID_ARGUMENT", br), false
	case errors.Is(err, ErrNotFound):
		return withDetails(codes.NotFound, err.Error(), "NOT_FOUND"), false
	case errors.Is(err, ErrAlreadyExists):
		return withDetails(codes.AlreadyExists, err.Error(), "ALREADY_EXISTS"), false
	case errors.Is(err, ErrFailedPrecondition):
		return withDetails(codes.FailedPrecondition, err.Error(), "FAILED_PRECONDITION"), false
	case errors.Is(err, ErrResourceExhausted):
		return withDetails(codes.ResourceExhausted, err.Error(), "RESOURCE_EXHAUSTED"), false
	case errors.Is(err, ErrUnavailable):
		return withDetails(codes.Unavailable, err.Error(), "UNAVAILABLE"), false
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded"), false
	}
	return status.Error(codes.Internal, "internal error"), true
}

func withDetails(code codes.Code, msg, reason string, extra ...protoadapt.MessageV1) error {
	st := status.New(code, msg)
	details := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: Domain}}, extra...)
	withInfo, err := st.WithDetails(details...)
	if err != nil {
		return st.Err()
	}
	return withInfo.Err()
}
