import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { TracerShim } from '@opentelemetry/shim-opentracing';
import { RecordingTracer } from '@otinst/recorder';
import jaeger from 'jaeger-client';
import type { Tracer } from 'opentracing';

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

export function recorderTracer(serviceName = 'test'): TracerUnderTest & { tracer: RecordingTracer } {
  const tracer = new RecordingTracer({ serviceName });
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

interface JaegerSpan {
  operationName: string;
  context(): { traceIdStr: string; spanIdStr: string; parentIdStr: string | null | undefined };
  _tags: { key: string; value: unknown }[];
  _logs: { timestamp: number; fields: { key: string; value: unknown }[] }[];
}

export function jaegerTracer(serviceName = 'test'): TracerUnderTest {
  const reporter = new jaeger.InMemoryReporter();
  const tracer = jaeger.initTracer(
    { serviceName, sampler: { type: 'const', param: 1 } },
    { reporter, logger: { info() {}, error() {} } },
  ) as unknown as Tracer;
  const pad = (id: string) => id.padStart(16, '0');
  return {
    name: 'jaeger',
    tracer,
    // jaeger-client speaks uber-trace-id, not W3C: trace:span:parent:flags (64-bit ids here)
    parentHeaders: (traceId, spanId) => ({ 'uber-trace-id': `${traceId.slice(-16)}:${spanId}:0:1` }),
    spans: () =>
      (reporter.spans as unknown as JaegerSpan[]).map((span) => {
        const context = span.context();
        return {
          operationName: span.operationName,
          traceId: pad(context.traceIdStr),
          spanId: pad(context.spanIdStr),
          parentId: context.parentIdStr ? pad(context.parentIdStr) : undefined,
          tags: Object.fromEntries(span._tags.map(({ key, value }) => [key, value])),
          logs: span._logs.map((log) => Object.fromEntries(log.fields.map(({ key, value }) => [key, value]))),
        };
      }),
    reset: () => reporter.clear(),
  };
}

export function otelTracer(): TracerUnderTest {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const propagator = new W3CTraceContextPropagator();
  const tracer = new TracerShim(provider.getTracer('otinst-test'), {
    textMapPropagator: propagator,
    httpHeadersPropagator: propagator,
  }) as unknown as Tracer;
  return {
    name: 'otel',
    tracer,
    parentHeaders: (traceId, spanId) => ({ traceparent: `00-${traceId}-${spanId}-01` }),
    spans: () =>
      exporter.getFinishedSpans().map((span) => {
        const tags: Record<string, unknown> = { ...span.attributes };
        // the shim maps the OpenTracing error tag to the span status (2 = ERROR)
        if (span.status.code === 2) tags['error'] = true;
        return {
          operationName: span.name,
          traceId: span.spanContext().traceId,
          spanId: span.spanContext().spanId,
          parentId: span.parentSpanContext?.spanId,
          tags,
          logs: span.events.map((event) => ({ event: event.name, ...event.attributes })),
        };
      }),
    reset: () => exporter.reset(),
  };
}

/** The three real tracers every adapter is tested with. */
export function allTracers(): TracerUnderTest[] {
  return [recorderTracer(), jaegerTracer(), otelTracer()];
}
