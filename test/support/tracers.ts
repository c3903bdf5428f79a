import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { RecordingTracer } from '@otinst/recorder';
import jaeger from 'jaeger-client';
import type { Tracer } from 'opentracing';
import {
  jaegerTracer as makeJaegerTracer,
  jaegerSpanRecord,
  otelShimTracer,
  otelSpanRecord,
  recordingTracer,
  type SpanRecord,
} from './tracer-factory.cjs';

/** A finished span, in the same shape whichever tracer recorded it. */
export interface FinishedSpan {
  operationName: string;
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  tags: Record<string, unknown>;
  /** Log entries' fields (OTel: span events' attributes, plus `event` = the event name). */
  logs: Record<string, unknown>[];
}

/** A real tracer plus a way to read what it recorded. */
export interface TracerUnderTest {
  name: 'recorder' | 'jaeger' | 'otel';
  tracer: Tracer;
  /** The header an upstream service of this tracer's kind would send. */
  parentHeaders(traceId: string, spanId: string): Record<string, string>;
  spans(): FinishedSpan[];
  reset(): void;
}

const shape = ({ operationName, traceId, spanId, parentId, tags, logs }: SpanRecord): FinishedSpan => ({
  operationName,
  traceId,
  spanId,
  parentId,
  tags,
  logs: logs.map((log) => log.fields),
});

export function recorderTracer(serviceName = 'test'): TracerUnderTest & { tracer: RecordingTracer } {
  const tracer = recordingTracer({ serviceName });
  return {
    name: 'recorder',
    tracer,
    parentHeaders: (traceId, spanId) => ({ traceparent: `00-${traceId}-${spanId}-01` }),
    spans: () =>
      tracer.spans().map((span) => ({
        operationName: span.operationName,
        traceId: span.traceId,
        spanId: span.spanId,
        parentId: span.parentId,
        tags: { ...span.tags },
        logs: span.logs.map((log) => log.fields),
      })),
    reset: () => tracer.reset(),
  };
}

export function jaegerTracer(serviceName = 'test'): TracerUnderTest {
  const reporter = new jaeger.InMemoryReporter();
  const tracer = makeJaegerTracer({ serviceName, reporter });
  return {
    name: 'jaeger',
    tracer,
    // jaeger-client speaks uber-trace-id, not W3C: trace:span:parent:flags (64-bit ids here)
    parentHeaders: (traceId, spanId) => ({ 'uber-trace-id': `${traceId.slice(-16)}:${spanId}:0:1` }),
    spans: () => reporter.spans.map((span) => shape(jaegerSpanRecord(span))),
    reset: () => reporter.clear(),
  };
}

export function otelTracer(serviceName = 'test'): TracerUnderTest {
  const exporter = new InMemorySpanExporter();
  const { tracer } = otelShimTracer({
    serviceName,
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    instrumentation: 'otinst-test',
  });
  return {
    name: 'otel',
    tracer,
    parentHeaders: (traceId, spanId) => ({ traceparent: `00-${traceId}-${spanId}-01` }),
    // the shim maps the OpenTracing error tag to the span status; otelSpanRecord maps it back
    spans: () => exporter.getFinishedSpans().map((span) => shape(otelSpanRecord(span))),
    reset: () => exporter.reset(),
  };
}

/** The three real tracers every adapter is tested with. */
export function allTracers(): TracerUnderTest[] {
  return [recorderTracer(), jaegerTracer(), otelTracer()];
}
