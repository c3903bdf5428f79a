'use strict';
/**
 * The tracers the benchmarks run with. Every one of them drops what it
 * records (nothing leaves the process), so the numbers measure the cost of
 * creating, tagging and finishing spans, not of shipping them. Each keeps a
 * span count and the last operation name so that the harness can check that
 * the instrumentation under test really produced spans.
 */

/**
 * `opentracing`'s own no-op tracer as a user who turns tracing off has it
 * (`new Tracer()`, or the global tracer before `initGlobalTracer`): the floor
 * any OpenTracing instrumentation can reach. It cannot count its spans (a
 * subclass that counted would no longer be the plain no-op tracer, which
 * otinst recognises and does not call), so its count comes from the app:
 * `countActiveSpan()`, called by the benchmark's route handler, counts the
 * requests whose handler ran with a current span. Without a count a no-op
 * variant whose adapter silently traced nothing would look as fast as bare
 * and pass.
 */
function noopTracer() {
  const opentracing = require('opentracing');
  const tracer = new opentracing.Tracer();
  let count = 0;
  let getCurrentSpan;
  const countActiveSpan = () => {
    getCurrentSpan ??= require('@otinst/core').getCurrentSpan;
    if (getCurrentSpan() !== null) count++;
  };
  return { tracer, countActiveSpan, stats: () => ({ spans: count, lastName: null }) };
}

/**
 * jaeger-client with the const sampler (every span sampled) and a reporter
 * that drops spans: the interface jaeger-client calls is `report`, `close` and
 * `setProcess`.
 */
function jaegerTracer(serviceName = 'otinst-bench') {
  const jaeger = require('jaeger-client');
  const reporter = {
    count: 0,
    lastName: null,
    name: () => 'DroppingReporter',
    report(span) {
      this.count++;
      this.lastName = span.operationName;
    },
    close(callback) {
      if (callback) callback();
    },
    setProcess() {},
  };
  const tracer = jaeger.initTracer(
    { serviceName, sampler: { type: 'const', param: 1 } },
    { reporter, logger: { info() {}, error() {} } },
  );
  return { tracer, stats: () => ({ spans: reporter.count, lastName: reporter.lastName }) };
}

/** An OpenTelemetry span exporter that counts what it is given and drops it. */
function droppingExporter() {
  const exporter = {
    count: 0,
    names: new Set(),
    export(spans, done) {
      exporter.count += spans.length;
      // the names of the first few batches are enough to see what the instrumentation makes
      if (exporter.names.size < 16) for (const span of spans) exporter.names.add(span.name);
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  };
  return exporter;
}

/** An OpenTelemetry SDK tracer provider with a batch span processor over a dropping exporter. */
function otelProvider(Provider) {
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const exporter = droppingExporter();
  const provider = new Provider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  const stats = async () => {
    await provider.forceFlush();
    return { spans: exporter.count, lastName: null, names: [...exporter.names] };
  };
  return { provider, exporter, stats };
}

/** `@opentelemetry/shim-opentracing` over an SDK tracer (batch processor, dropping exporter), W3C propagation. */
function otelShimTracer() {
  const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core');
  const { TracerShim } = require('@opentelemetry/shim-opentracing');
  const { provider, stats } = otelProvider(BasicTracerProvider);
  const propagator = new W3CTraceContextPropagator();
  const tracer = new TracerShim(provider.getTracer('otinst-bench'), {
    textMapPropagator: propagator,
    httpHeadersPropagator: propagator,
  });
  return { tracer, stats };
}

/** otinst's recording tracer (keeps every span in memory until `reset()`). */
function recordingTracer() {
  const { RecordingTracer } = require('@otinst/recorder');
  const tracer = new RecordingTracer({ serviceName: 'otinst-bench' });
  return { tracer, stats: () => ({ spans: tracer.spans().length, lastName: null }) };
}

module.exports = { noopTracer, jaegerTracer, otelShimTracer, otelProvider, recordingTracer, droppingExporter };
