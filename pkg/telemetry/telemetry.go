// Package telemetry sets up OpenTelemetry tracing and metrics and structured
// logging for a Barista process.
//
// Traces are exported as the standard OTEL_* environment variables say
// (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, ...); when none of them
// asks for an exporter, spans are still created, so logs carry trace ids, but
// nothing is sent. Metrics are always served in the Prometheus text format by
// MetricsHandler. W3C trace context and baggage propagation are always on.
package telemetry

import (
	"context"
	"errors"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Options adjusts Setup.
type Options struct {
	// SpanExporter, when set, receives every span synchronously in addition
	// to the exporter chosen by the environment. Tests use it with an
	// in-memory exporter.
	SpanExporter sdktrace.SpanExporter
}

// Telemetry holds the providers installed by Setup.
type Telemetry struct {
	tracer   *sdktrace.TracerProvider
	meter    *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// Setup creates the tracer and meter providers for the named service and
// installs them, with the W3C propagators, as the OpenTelemetry globals.
// OTEL_SERVICE_NAME, when set, overrides service.
func Setup(ctx context.Context, service string, opts Options) (*Telemetry, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, err
	}
	// resource.Default reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES;
	// let an explicit OTEL_SERVICE_NAME win over the built-in name.
	if name := os.Getenv("OTEL_SERVICE_NAME"); name != "" {
		res, _ = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName(name)))
	}

	traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if tracesRequested() {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, err
		}
		traceOpts = append(traceOpts, sdktrace.WithBatcher(exp))
	}
	if opts.SpanExporter != nil {
		traceOpts = append(traceOpts, sdktrace.WithSyncer(opts.SpanExporter))
	}
	if !tracesRequested() && opts.SpanExporter == nil && os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		// Nothing here receives spans: start no trace of our own, so that
		// calls do not pay for building spans that are dropped when they
		// end (about a tenth of the CPU of a small RPC). A caller's trace
		// is still followed as it asks: its sampled flag passes on to the
		// events and to the services that continue it, and a span that is
		// not recorded still carries its trace id.
		traceOpts = append(traceOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	tp := sdktrace.NewTracerProvider(traceOpts...)

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter))

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &Telemetry{tracer: tp, meter: mp, registry: registry}, nil
}

// tracesRequested reports whether the environment asks for a trace exporter.
func tracesRequested() bool {
	switch os.Getenv("OTEL_TRACES_EXPORTER") {
	case "none":
		return false
	case "":
		return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	}
	return true
}

// MetricsHandler serves the process's metrics in the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.tracer.Shutdown(ctx), t.meter.Shutdown(ctx))
}

// Inject returns the W3C trace context of ctx as a map, to be stored with
// work that another process continues later.
func Inject(ctx context.Context) map[string]string {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	return carrier
}

// Extract returns ctx carrying the trace context stored by Inject, so that
// spans started from it continue the original trace.
func Extract(ctx context.Context, traceContext map[string]string) context.Context {
	if len(traceContext) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(traceContext))
}
