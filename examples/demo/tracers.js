'use strict';
/**
 * The demo's tracers: one per service, all writing into one span store so the
 * demo can print whole traces. With `--tracer jaeger` or `--tracer otel` the
 * spans also go to the backend those libraries are configured for through
 * their usual environment variables; the demo still prints them.
 */
const { RecordingTracer } = require('@otinst/recorder');

function recorderFactory(store) {
  return {
    forService: (serviceName) => new RecordingTracer({ serviceName, store }),
    close: async () => {},
  };
}

/** Turns a finished span of another tracer into the recorder's shape, so formatTrace can print it. */
function push(store, record) {
  store.imported = store.imported ?? [];
  store.imported.push(record);
}

function jaegerFactory(store) {
  const { initTracerFromEnv, CompositeReporter } = require('jaeger-client');
  const tracers = [];
  const capture = (serviceName) => ({
    name: 'demo-capture',
    report(span) {
      const context = span.context();
      const tags = Object.fromEntries(span._tags.map(({ key, value }) => [key, value]));
      push(store, {
        operationName: span.operationName,
        service: serviceName,
        traceId: context.traceIdStr.padStart(16, '0'),
        spanId: context.spanIdStr.padStart(16, '0'),
        parentId: context.parentIdStr ? context.parentIdStr.padStart(16, '0') : undefined,
        tags,
        logs: [],
        startTime: span._startTime,
        finishTime: span._startTime + span._duration,
        durationMs: span._duration,
      });
    },
    close(callback) {
      if (callback) callback();
    },
    setProcess() {},
  });
  return {
    closingNote:
      'Spans were also sent to the Jaeger agent at ' +
      `${process.env.JAEGER_ENDPOINT ?? `${process.env.JAEGER_AGENT_HOST ?? 'localhost'}:${process.env.JAEGER_AGENT_PORT ?? 6832} (UDP)`}.`,
    forService(serviceName) {
      const tracer = initTracerFromEnv(
        { serviceName, sampler: { type: 'const', param: 1 } },
        { logger: { info() {}, error() {} } },
      );
      // keep jaeger's own reporter (agent or collector, from JAEGER_* variables) and add one that feeds the printer
      tracer._reporter = new CompositeReporter([tracer._reporter, capture(serviceName)]);
      tracers.push(tracer);
      return tracer;
    },
    close: () => Promise.all(tracers.map((tracer) => new Promise((resolve) => tracer.close(resolve)))),
  };
}

function otelFactory(store) {
  const { NodeTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const { TracerShim } = require('@opentelemetry/shim-opentracing');
  const providers = [];
  const toMs = ([seconds, nanos]) => seconds * 1e3 + nanos / 1e6;
  const capture = (serviceName) => ({
    export(spans, done) {
      for (const span of spans) {
        const tags = { ...span.attributes };
        if (span.status.code === 2) tags.error = true;
        push(store, {
          operationName: span.name,
          service: serviceName,
          traceId: span.spanContext().traceId,
          spanId: span.spanContext().spanId,
          parentId: span.parentSpanContext?.spanId,
          tags,
          logs: [],
          startTime: toMs(span.startTime),
          finishTime: toMs(span.endTime),
          durationMs: toMs(span.duration),
        });
      }
      done({ code: 0 });
    },
    shutdown: async () => {},
  });
  const propagator = new W3CTraceContextPropagator();
  return {
    closingNote: `Spans were also exported over OTLP to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318'}.`,
    forService(serviceName) {
      const provider = new NodeTracerProvider({
        resource: resourceFromAttributes({ 'service.name': serviceName }),
        spanProcessors: [
          new BatchSpanProcessor(new OTLPTraceExporter()),
          new SimpleSpanProcessor(capture(serviceName)),
        ],
      });
      providers.push(provider);
      return new TracerShim(provider.getTracer('otinst-demo'), {
        textMapPropagator: propagator,
        httpHeadersPropagator: propagator,
      });
    },
    close: () => Promise.all(providers.map((provider) => provider.shutdown().catch(() => {}))),
  };
}

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
