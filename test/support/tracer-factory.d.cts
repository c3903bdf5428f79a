import type { RecordingTracer, SpanStore } from '@otinst/recorder';
import type { BasicTracerProvider, ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Tracer } from 'opentracing';

/** A finished span of any of the three tracers, in the recorder's shape. */
export interface SpanRecord {
  operationName: string;
  service: string | undefined;
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  tags: Record<string, unknown>;
  logs: { timestamp: number; fields: Record<string, unknown> }[];
  startTime: number;
  finishTime: number;
  durationMs: number;
}

export function recordingTracer(options?: { serviceName?: string; store?: SpanStore }): RecordingTracer;
export function jaegerTracer(options?: {
  serviceName?: string;
  reporter?: unknown;
  fromEnv?: boolean;
  logger?: { info(message: string): void; error(message: string): void };
}): Tracer;
export function otelShimTracer(options?: {
  serviceName?: string;
  spanProcessors?: SpanProcessor[];
  instrumentation?: string;
}): { tracer: Tracer; provider: BasicTracerProvider };
export function withSpanKinds(exporter: SpanExporter): SpanExporter;
export function jaegerSpanRecord(span: unknown, service?: string): SpanRecord;
export function otelSpanRecord(span: ReadableSpan, service?: string): SpanRecord;
