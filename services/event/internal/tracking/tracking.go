// Package tracking serves the Segment Tracking API over HTTP (/v1/track,
// /v1/identify, /v1/page, /v1/screen, /v1/group, /v1/alias and /v1/batch), so
// that stores can point the Segment and RudderStack SDKs they already use at
// Barista. It decodes Segment's JSON into the events of the gRPC API, with
// their properties, traits and context kept as JSON, and calls the API's
// implementation in process: validation, normalization, deduplication and
// the commit happen there, once for every API.
package tracking

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/services/event/internal/api"
)

// Ingester stores events; *api.Server implements it.
type Ingester interface {
	IngestJSON(ctx context.Context, events []*eventv1.Event, fields []api.JSONFields) ([]*eventv1.IngestResult, error)
}

// Options adjusts New.
type Options struct {
	// Now is the clock that stamps receive times; time.Now when nil.
	Now func() time.Time
	// WriteKeys are the accepted write keys. When empty, any write key is
	// accepted (the dev mode), but one must still be sent, as Segment
	// requires.
	WriteKeys []string
	// CheckWriteKey, when set, decides instead of WriteKeys: it returns why
	// a write key is refused (production mode checks it against the API
	// keys).
	CheckWriteKey func(key string) error
	// Logger receives server faults; slog.Default when nil.
	Logger *slog.Logger
}

// Handler is the Segment Tracking API.
type Handler struct {
	ingester Ingester
	now      func() time.Time
	keys     map[string]bool
	check    func(key string) error
	logger   *slog.Logger
	mux      *http.ServeMux
}

// New returns the Tracking API storing events through ingester.
func New(ingester Ingester, opts Options) *Handler {
	h := &Handler{ingester: ingester, now: opts.Now, keys: map[string]bool{}, check: opts.CheckWriteKey, logger: opts.Logger, mux: http.NewServeMux()}
	if h.now == nil {
		h.now = time.Now
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	for _, k := range opts.WriteKeys {
		h.keys[k] = true
	}
	for typ := range calls {
		h.mux.HandleFunc("POST /v1/"+typ, func(w http.ResponseWriter, r *http.Request) { h.single(w, r, typ) })
	}
	h.mux.HandleFunc("POST /v1/batch", h.batch)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Result is the outcome of one message, as the response reports it.
type Result struct {
	// Index is the position of the message in the batch.
	Index int `json:"index"`
	// Status is "accepted", "duplicate" or "rejected".
	Status    string `json:"status"`
	MessageID string `json:"messageId,omitempty"`
	// Event and Profile are the resource names of the stored event and of
	// the profile it was resolved to.
	Event   string `json:"event,omitempty"`
	Profile string `json:"profile,omitempty"`
	// Field and Error say what was wrong with a rejected message; Field is
	// the path of the JSON field, such as "batch[3].userId".
	Field string `json:"field,omitempty"`
	Error string `json:"error,omitempty"`
}

// Response is the body of every answer. Success is false exactly when the
// status is not 200; Code and Message then say why (Code is one of
// "invalid_request", "payload_too_large", "unauthorized", "unavailable",
// "internal").
type Response struct {
	Success bool   `json:"success"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
	// Result is the outcome of a single call.
	Result *Result `json:"result,omitempty"`
	// Results has one entry per item of a /v1/batch request, in order.
	Results []Result `json:"results,omitempty"`
}

// Response statuses.
const (
	statusAccepted  = "accepted"
	statusDuplicate = "duplicate"
	statusRejected  = "rejected"
)

func (h *Handler) single(w http.ResponseWriter, r *http.Request, typ string) {
	now := h.now()
	body, ok := h.read(w, r, MaxEventBytes, "the event is over Segment's limit of 32 KB (32768 bytes) per event")
	if !ok {
		return
	}
	m, ferr := object(body, "the request body")
	if ferr != nil {
		h.invalid(w, ferr)
		return
	}
	key, ferr := str(m, "writeKey", "writeKey", false)
	if ferr != nil {
		h.invalid(w, ferr)
		return
	}
	if !h.authorized(w, r, key) {
		return
	}
	msg, ferr := decodeMessage(m, typ, envelope{}, now)
	if ferr != nil {
		h.invalid(w, ferr)
		return
	}
	results, err := h.ingest(r.Context(), []*message{msg})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res := results[0]
	if res.Status == statusRejected {
		writeJSON(w, http.StatusBadRequest, Response{Code: "invalid_request", Field: res.Field, Message: res.Error, Result: &res})
		return
	}
	writeJSON(w, http.StatusOK, Response{Success: true, Result: &res})
}

// batch stores the valid items of a batch and answers with one result per
// item: one bad item never sinks the others. The answer is 200 when any item
// was stored (or already was), 400 when every item was rejected.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	body, ok := h.read(w, r, MaxBatchBytes, "the batch is over Segment's limit of 500 KB (512000 bytes) per batch request; send fewer events per batch")
	if !ok {
		return
	}
	m, ferr := object(body, "the request body")
	if ferr != nil {
		h.invalid(w, ferr)
		return
	}
	env, ferr := decodeEnvelope(m)
	if ferr != nil {
		h.invalid(w, ferr)
		return
	}
	if !h.authorized(w, r, env.WriteKey) {
		return
	}
	raw, present := m["batch"]
	if !present || isNull(raw) {
		h.invalid(w, errorf("batch", `is required: {"batch": [{"type": "track", ...}, ...]}`))
		return
	}
	if k := kind(raw); k != "array" {
		h.invalid(w, errorf("batch", "must be a JSON array, got %s", k))
		return
	}
	items, err := elements(raw)
	if err != nil {
		h.invalid(w, errorf("batch", "not a valid JSON array: %v", err))
		return
	}

	results := make([]Result, len(items))
	var msgs []*message
	var at []int
	// One map holds the members of each item in turn: a message keeps
	// their values, which alias the body, not the map.
	scratch := make(map[string]json.RawMessage, 16)
	for i, item := range items {
		msg, ferr := decodeItem(scratch, item, i, env, now)
		if ferr != nil {
			field := itemPath(i)
			if ferr.Field != "" {
				field += "." + ferr.Field
			}
			results[i] = Result{Index: i, Status: statusRejected, Field: field, Error: ferr.Message}
			continue
		}
		msgs = append(msgs, msg)
		at = append(at, i)
	}
	stored, err := h.ingest(r.Context(), msgs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	code := http.StatusBadRequest
	if len(items) == 0 {
		code = http.StatusOK
	}
	for k, res := range stored {
		i := at[k]
		res.Index = i
		if res.Status == statusRejected {
			res.Field = fmt.Sprintf("batch[%d].%s", i, res.Field)
		} else {
			code = http.StatusOK
		}
		results[i] = res
	}
	resp := Response{Success: code == http.StatusOK, Results: results}
	if code != http.StatusOK {
		resp.Code, resp.Message = "invalid_request", "every event of the batch was rejected; see results"
	}
	writeJSON(w, code, resp)
}

// itemPath is the field path of item i of a batch.
func itemPath(i int) string { return "batch[" + strconv.Itoa(i) + "]" }

// decodeItem decodes item i of a batch, which names its own call type,
// splitting its members into scratch.
func decodeItem(scratch map[string]json.RawMessage, item json.RawMessage, i int, env envelope, now time.Time) (*message, *fieldError) {
	if n := len(item); n > MaxEventBytes {
		return nil, errorf("", "the event is %d bytes, over Segment's limit of 32 KB (32768 bytes) per event", n)
	}
	// The body is valid UTF-8 and JSON (object checked it), and so is item.
	if k := kind(item); k != "object" {
		return nil, errorf("", "%s must be a JSON object, got %s", itemPath(i), k)
	}
	m, err := membersInto(scratch, bytes.TrimSpace(item))
	if err != nil {
		return nil, errorf("", "%s is malformed JSON: %v", itemPath(i), err)
	}
	typ, ferr := str(m, "type", "type", false)
	if ferr != nil {
		return nil, ferr
	}
	if typ == "" {
		return nil, errorf("type", "is required: track, identify, page, screen, group or alias")
	}
	return decodeMessage(m, typ, env, now)
}

// ingest stores msgs through IngestEvents, in request-sized chunks and in
// order, and returns one result per message. It returns only after every
// chunk was committed; on error, earlier chunks may be stored, and a retry
// of the whole request turns them into duplicates by their message ids.
func (h *Handler) ingest(ctx context.Context, msgs []*message) ([]Result, error) {
	out := make([]Result, 0, len(msgs))
	for start := 0; start < len(msgs); start += api.MaxBatch {
		chunk := msgs[start:min(start+api.MaxBatch, len(msgs))]
		events, fields := make([]*eventv1.Event, len(chunk)), make([]api.JSONFields, len(chunk))
		for i, msg := range chunk {
			events[i], fields[i] = msg.Event, msg.JSON
		}
		results, err := h.ingester.IngestJSON(ctx, events, fields)
		if err != nil {
			return nil, err
		}
		if len(results) != len(chunk) {
			return nil, fmt.Errorf("%w: %d results for %d events", errNoResult, len(results), len(chunk))
		}
		for i, r := range results {
			res := Result{MessageID: r.GetMessageId(), Event: r.GetName(), Profile: r.GetProfile()}
			switch r.GetStatus() {
			case eventv1.IngestResult_STATUS_ACCEPTED:
				res.Status = statusAccepted
			case eventv1.IngestResult_STATUS_DUPLICATE:
				res.Status = statusDuplicate
			default:
				res.Status, res.Error = statusRejected, r.GetError()
				field := strings.TrimPrefix(r.GetField(), fmt.Sprintf("events[%d]", i))
				res.Field = sourceField(chunk[i], strings.TrimPrefix(field, "."))
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// read returns the request body, decompressed when gzip-encoded (as several
// SDKs send it), answering 400 when it is over limit bytes.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, limit int, tooLarge string) ([]byte, bool) {
	var body io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			h.invalid(w, errorf("", "the body is not valid gzip: %v", err))
			return nil, false
		}
		defer zr.Close()
		body = zr
	default:
		writeJSON(w, http.StatusUnsupportedMediaType, Response{Code: "invalid_request", Message: fmt.Sprintf("Content-Encoding %q is not supported; send gzip or no encoding", enc)})
		return nil, false
	}
	// Read into one buffer of the announced size (within the limit)
	// instead of growing one step by step.
	var buf bytes.Buffer
	if r.ContentLength > 0 && body == r.Body {
		buf.Grow(int(min(r.ContentLength, int64(limit)+1)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(body, int64(limit)+1))
	b := buf.Bytes()
	if err != nil {
		h.invalid(w, errorf("", "reading the body: %v", err))
		return nil, false
	}
	if len(b) > limit {
		writeJSON(w, http.StatusBadRequest, Response{Code: "payload_too_large", Message: tooLarge})
		return nil, false
	}
	return b, true
}

// authorized checks the write key, sent as the HTTP Basic user name (the
// SDKs' way) or as the writeKey field, and answers 401 when it is missing
// or unknown.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request, bodyKey string) bool {
	key := bodyKey
	if user, _, ok := r.BasicAuth(); ok && user != "" {
		key = user
	}
	switch {
	case key == "":
		w.Header().Set("WWW-Authenticate", `Basic realm="barista"`)
		writeJSON(w, http.StatusUnauthorized, Response{Code: "unauthorized", Message: "a write key is required: send it as the HTTP Basic user name or as the writeKey field of the body"})
		return false
	case h.check != nil:
		if err := h.check(key); err != nil {
			writeJSON(w, http.StatusUnauthorized, Response{Code: "unauthorized", Message: err.Error()})
			return false
		}
	case len(h.keys) > 0 && !h.keys[key]:
		writeJSON(w, http.StatusUnauthorized, Response{Code: "unauthorized", Message: "the write key is not valid"})
		return false
	}
	return true
}

func (h *Handler) invalid(w http.ResponseWriter, ferr *fieldError) {
	writeJSON(w, http.StatusBadRequest, Response{Code: "invalid_request", Field: ferr.Field, Message: ferr.Error()})
}

// fail answers an error of the ingest call with the HTTP status matching its
// gRPC code; apierror decides the code and hides internal causes.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	st, internal := apierror.ToStatus(err)
	if internal {
		h.logger.ErrorContext(r.Context(), "segment tracking API: ingest failed", "error", err)
	}
	s := status.Convert(st)
	code, name := http.StatusInternalServerError, "internal"
	switch s.Code() {
	case codes.InvalidArgument:
		code, name = http.StatusBadRequest, "invalid_request"
	case codes.Unavailable, codes.Canceled:
		code, name = http.StatusServiceUnavailable, "unavailable"
	case codes.DeadlineExceeded:
		code, name = http.StatusGatewayTimeout, "unavailable"
	case codes.ResourceExhausted:
		code, name = http.StatusTooManyRequests, "unavailable"
	}
	writeJSON(w, code, Response{Code: name, Message: s.Message()})
}

func writeJSON(w http.ResponseWriter, code int, v Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The status line is sent; a client that went away cannot be told more.
	_ = json.NewEncoder(w).Encode(v)
}

// errNoResult guards against an Ingester that answers fewer results than
// it was given events.
var errNoResult = errors.New("ingest returned fewer results than events")
