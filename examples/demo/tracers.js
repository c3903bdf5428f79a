'use strict';
/**
 * The demo's tracers: one per service, all writing into one span store so the
 * demo can print whole traces. With `--tracer jaeger` or `--tracer otel` the
 * spans also go to the backend those libraries are configured for through
 * their usual environment variables; the demo still prints them, and says
 * whether the backend took them. The tracers are built by the factory the
 * tests use (test/support/tracer-factory.cjs).
 */
const {
  recordingTracer,
  jaegerTracer,
  otelShimTracer,
  withSpanKinds,
  jaegerSpanRecord,
  otelSpanRecord,
} = require('../../test/support/tracer-factory.cjs');

/** Keeps a copy of another tracer's finished span, in the recorder's shape, for the printer. */
function push(store, record) {
  store.imported = store.imported ?? [];
  store.imported.push(record);
}

function recorderFactory(store) {
  return {
    forService: (serviceName) => recordingTracer({ serviceName, store }),
    close: async () => {},
    closingNote: () => undefined,
  };
}

function jaegerFactory(store) {
  const tracers = [];
  const errors = new Set();
  const capture = (serviceName) => ({
    name: () => 'demo-capture',
    report: (span) => push(store, jaegerSpanRecord(span, serviceName)),
    close(callback) {
      if (callback) callback();
    },
    setProcess() {},
  });
  // jaeger-client reports a failed flush through its logger (HTTP collector) and nothing for UDP
  const logger = { info() {}, error: (message) => errors.add(String(message)) };
  return {
    forService(serviceName) {
      const tracer = jaegerTracer({ serviceName, reporter: capture(serviceName), fromEnv: true, logger });
      tracers.push(tracer);
      return tracer;
    },
    close: () => Promise.all(tracers.map((tracer) => new Promise((resolve) => tracer.close(resolve)))),
    closingNote() {
      if (errors.size > 0) return `Sending the spans to Jaeger failed: ${[...errors].join('; ')}`;
      if (process.env.JAEGER_ENDPOINT)
        return `Spans were also sent to the Jaeger collector at ${process.env.JAEGER_ENDPOINT}.`;
      const agent = `${process.env.JAEGER_AGENT_HOST ?? 'localhost'}:${process.env.JAEGER_AGENT_PORT ?? 6832}`;
      // UDP has no answer: whether an agent listens cannot be known from here
      return `Spans were also sent over UDP to a Jaeger agent at ${agent}, if one listens there.`;
    },
  };
}

/**
 * Wraps the OTLP exporter: counts what it exported and keeps the first
 * failure, so the demo reports "nothing listens" instead of claiming success.
 */
function checkedExporter(exporter) {
  const result = { exported: 0, failed: 0, error: undefined };
  return {
    result,
    export(spans, done) {
      exporter.export(spans, (outcome) => {
        if (outcome.code === 0) result.exported += spans.length;
        else {
          result.failed += spans.length;
          result.error = result.error ?? outcome.error;
        }
        done(outcome);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
}

function otelFactory(store) {
  const { BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
  const providers = [];
  const exporters = [];
  const endpoint =
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT ??
    'http://localhost:4318';
  const capture = (serviceName) => ({
    export(spans, done) {
      for (const span of spans) push(store, otelSpanRecord(span, serviceName));
      done({ code: 0 });
    },
    shutdown: async () => {},
  });
  return {
    forService(serviceName) {
      const exporter = checkedExporter(new OTLPTraceExporter());
      // the backend gets server/client/producer/consumer spans, not all INTERNAL (docs/tracers.md)
      exporters.push(exporter);
      const { tracer, provider } = otelShimTracer({
        serviceName,
        instrumentation: 'otinst-demo',
        spanProcessors: [
          new BatchSpanProcessor(withSpanKinds(exporter)),
          new SimpleSpanProcessor(capture(serviceName)),
        ],
      });
      providers.push(provider);
      return tracer;
    },
    // shutting down flushes what the batch processors still hold: the export results are in after it
    close: () => Promise.all(providers.map((provider) => provider.shutdown().catch(() => {}))),
    closingNote() {
      const exported = exporters.reduce((sum, { result }) => sum + result.exported, 0);
      const failed = exporters.reduce((sum, { result }) => sum + result.failed, 0);
      const error = exporters.map(({ result }) => result.error).find((e) => e !== undefined);
      if (failed === 0 && exported > 0) return `${exported} spans were also exported over OTLP to ${endpoint}.`;
      if (failed === 0) return `No spans were exported over OTLP to ${endpoint}.`;
      return (
        `Exporting the spans over OTLP to ${endpoint} failed (${failed} of ${failed + exported} spans not exported): ` +
        `${error?.message ?? error ?? 'unknown error'}. Is an OpenTelemetry Collector or Jaeger listening there?`
      );
    },
  };
}

/** The tracers for `--tracer recorder|jaeger|otel`: `forService(name)`, `close()`, then `closingNote()`. */
async function makeTracerFactory(kind, store) {
  switch (kind) {
    case 'recorder':
      return recorderFactory(store);
    case 'jaeger':
      return jaegerFactory(store);
    case 'otel':
      return otelFactory(store);
    default:
      throw new Error(`unknown tracer "${kind}": use recorder, jaeger or otel`);
  }
}

module.exports = { makeTracerFactory };
