'use strict';
/**
 * The three real tracers, built one way wherever otinst runs them: the tests
 * (test/support/tracers.ts), the demo (examples/demo/tracers.js) and the
 * benchmarks. Plain CommonJS, so that `node` loads it without a build, and
 * each library is required only when its tracer is asked for.
 *
 * Each maker takes the service name and where the finished spans go; the
 * `*Record` functions turn another tracer's finished span into one shape (the
 * recorder's `RecordedSpan` fields), so the same assertions and printer work
 * with all three.
 */

/** `@otinst/recorder`'s RecordingTracer (W3C propagation, spans kept in `store`). */
function recordingTracer({ serviceName = 'otinst', store } = {}) {
  const { RecordingTracer } = require('@otinst/recorder');
  return new RecordingTracer({ serviceName, store });
}

/**
 * jaeger-client sampling every trace (`uber-trace-id` propagation), reporting
 * to `reporter`. With `fromEnv`, the JAEGER_* variables configure it and its
 * own reporter (agent or collector) keeps reporting beside `reporter`.
 */
function jaegerTracer({ serviceName = 'otinst', reporter, fromEnv = false, logger } = {}) {
  const jaeger = require('jaeger-client');
  const options = { logger: logger ?? { info() {}, error() {} } };
  const config = { serviceName, sampler: { type: 'const', param: 1 } };
  if (!fromEnv) return jaeger.initTracer(config, { ...options, reporter });
  const tracer = jaeger.initTracerFromEnv(config, options);
  // jaeger-client takes one reporter: keep the one the variables configured and add ours
  if (reporter !== undefined) tracer._reporter = new jaeger.CompositeReporter([tracer._reporter, reporter]);
  return tracer;
}

/**
 * The OpenTelemetry SDK through `@opentelemetry/shim-opentracing`, set up as
 * docs/tracers.md says: a resource naming the service (else
 * `unknown_service:node`) and the W3C propagator for both formats (the shim
 * has no default). Returns the shim and the provider (to flush or shut down).
 */
function otelShimTracer({ serviceName = 'otinst', spanProcessors = [], instrumentation = 'otinst' } = {}) {
  const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const { TracerShim } = require('@opentelemetry/shim-opentracing');
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors,
  });
  const propagator = new W3CTraceContextPropagator();
  const tracer = new TracerShim(provider.getTracer(instrumentation), {
    textMapPropagator: propagator,
    httpHeadersPropagator: propagator,
  });
  return { tracer, provider };
}

/**
 * Wraps an OpenTelemetry span exporter: each span goes out with the kind its
 * OpenTracing `span.kind` tag names (the shim starts every span as INTERNAL).
 * The same helper as in docs/tracers.md.
 */
function withSpanKinds(exporter) {
  const { SpanKind } = require('@opentelemetry/api');
  const kinds = {
    server: SpanKind.SERVER,
    client: SpanKind.CLIENT,
    producer: SpanKind.PRODUCER,
    consumer: SpanKind.CONSUMER,
  };
  const withKind = (span) => {
    const kind = kinds[span.attributes['span.kind']];
    return kind === undefined ? span : Object.create(span, { kind: { value: kind, enumerable: true } });
  };
  return {
    export: (spans, done) => exporter.export(spans.map(withKind), done),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

const pad = (id) => id.padStart(16, '0');

/** A span jaeger-client finished (as its reporters get it), in the recorder's shape. */
function jaegerSpanRecord(span, service) {
  const context = span.context();
  return {
    operationName: span.operationName,
    service,
    traceId: pad(context.traceIdStr),
    spanId: pad(context.spanIdStr),
    parentId: context.parentIdStr ? pad(context.parentIdStr) : undefined,
    tags: Object.fromEntries(span._tags.map(({ key, value }) => [key, value])),
    logs: span._logs.map((log) => ({
      timestamp: log.timestamp,
      fields: Object.fromEntries(log.fields.map(({ key, value }) => [key, value])),
    })),
    startTime: span._startTime,
    finishTime: span._startTime + span._duration,
    durationMs: span._duration,
  };
}

const toMs = ([seconds, nanos]) => seconds * 1e3 + nanos / 1e6;

/**
 * A span the OpenTelemetry SDK finished, in the recorder's shape: attributes
 * as tags, plus `error: true` for status ERROR (where the shim put the
 * OpenTracing error tag); events as logs, `event` = the event's name.
 */
function otelSpanRecord(span, service = String(span.resource.attributes['service.name'])) {
  const tags = { ...span.attributes };
  if (span.status.code === 2) tags.error = true;
  return {
    operationName: span.name,
    service,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentId: span.parentSpanContext?.spanId,
    tags,
    logs: span.events.map((event) => ({
      timestamp: toMs(event.time),
      fields: { event: event.name, ...event.attributes },
    })),
    startTime: toMs(span.startTime),
    finishTime: toMs(span.endTime),
    durationMs: toMs(span.duration),
  };
}

module.exports = { recordingTracer, jaegerTracer, otelShimTracer, withSpanKinds, jaegerSpanRecord, otelSpanRecord };
