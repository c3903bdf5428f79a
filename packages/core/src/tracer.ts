import { childOf, globalTracer, Tracer as BaseTracer } from 'opentracing';
import type { Span, SpanContext, SpanOptions, Tracer } from 'opentracing';
import { getConfig } from './config';
import { debug, observeRejection, safeExecute } from './safe';
import { ObjectSlot } from './object-slot';

/**
 * Tracer resolution and the safe calls into it. A tracer that throws from any
 * method, returns a promise that rejects, or returns nothing where a span was
 * expected, costs one debug line; the traced call goes on (API.md, failure
 * policy).
 */

/**
 * The one tracer rule (docs/tracers.md): the tracer given here, else the one
 * given to an adapter or to `configure({ tracer })`, else
 * `opentracing.globalTracer()` looked up now (so `initGlobalTracer` may come
 * later). Every span otinst starts without a parent gets its tracer here.
 */
export function resolveTracer(tracer?: Tracer | null): Tracer {
  return tracer ?? getConfig().tracer ?? globalTracer();
}

/** The tracer for a span started outside any active span: `configure({ tracer })`, else the global tracer. */
export function defaultTracer(): Tracer {
  return getConfig().tracer ?? globalTracer();
}

function isSpan(value: unknown): value is Span {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Span).finish === 'function' &&
    typeof (value as Span).setTag === 'function'
  );
}

/** The span methods of opentracing's own `Tracer` (the no-op tracer, and the base class of many tracers). */
interface TracerInternals {
  _startSpan?: unknown;
  _extract?: unknown;
}
const BASE = BaseTracer.prototype as unknown as Tracer & TracerInternals;

/**
 * Start options for a child of `parent` (none for `null`) on `tracer`.
 * `childOf`, not a prebuilt reference: tracers that do not extend
 * opentracing's classes (jaeger-client) only understand a reference built by
 * themselves. A tracer that keeps opentracing's own `startSpan` (the no-op
 * tracer, MockTracer, Lightstep's, tracers built on the base class) gets the
 * reference that `startSpan` would build from `childOf`: the base class turns
 * `childOf` into `references` and then `delete`s it from the options, which
 * sends the object to V8's slow dictionary mode on every span.
 */
export function childOptions(parent: Span | SpanContext | null, tracer: Tracer): SpanOptions {
  if (parent === null) return {};
  return tracer.startSpan === BASE.startSpan ? { references: [childOf(parent)] } : { childOf: parent };
}

/**
 * opentracing's own no-op tracer, none of its span methods replaced (`new
 * Tracer()`, what `globalTracer()` hands on before `initGlobalTracer`): its
 * `extract` finds nothing worth reading and its `startSpan` returns the one
 * no-op span, so neither needs calling. A subclass that overrides one of
 * them (a counting test tracer, MockTracer) is called as usual.
 */
export function isNoopTracer(tracer: Tracer): boolean {
  const internals = tracer as Tracer & TracerInternals;
  return (
    tracer.startSpan === BASE.startSpan &&
    internals._startSpan === BASE._startSpan &&
    tracer.extract === BASE.extract &&
    internals._extract === BASE._extract
  );
}

/** `tracer.startSpan`, or `null` when the tracer throws or returns something that is not a span. */
export function safeStartSpan(tracer: Tracer, name: string, options: SpanOptions): Span | null {
  try {
    const span = tracer.startSpan(name, options);
    if (isSpan(span)) return span;
    observeRejection(`tracer.startSpan(${name})`, span);
    debug(`tracer.startSpan(${name}) returned no span`);
  } catch (error) {
    debug(`tracer.startSpan(${name}) failed`, error);
  }
  return null;
}

/** `tracer.extract`, or `null` when it throws or finds nothing usable. */
export function safeExtract(tracer: Tracer, format: string, carrier: unknown): SpanContext | null {
  try {
    const context = tracer.extract(format, carrier);
    if (context instanceof Promise) {
      // a promise is no span context: a child of it would be a child of nothing
      observeRejection(`tracer.extract(${format})`, context);
      debug(`tracer.extract(${format}) returned a promise, not a span context`);
      return null;
    }
    return context === undefined ? null : context;
  } catch (error) {
    debug(`tracer.extract(${format}) failed`, error);
    return null;
  }
}

/** `tracer.inject`; false when it threw. */
export function safeInject(tracer: Tracer, span: Span | SpanContext, format: string, carrier: unknown): boolean {
  try {
    observeRejection(`tracer.inject(${format})`, tracer.inject(span, format, carrier));
    return true;
  } catch (error) {
    debug(`tracer.inject(${format}) failed`, error);
    return false;
  }
}

/** The tracer that made `span`, when the span says so; otherwise `fallback`, else the default tracer. */
export function tracerOf(span: Span, fallback?: Tracer | null): Tracer {
  const own = safeExecute('span.tracer()', () => span.tracer(), undefined);
  return own ?? resolveTracer(fallback);
}

export function safeSetTag(span: Span, key: string, value: unknown): void {
  try {
    observeRejection(`span.setTag(${key})`, span.setTag(key, value));
  } catch (error) {
    debug(`span.setTag(${key}) failed`, error);
  }
}

export function safeSetTags(span: Span, tags: Record<string, unknown>): void {
  try {
    observeRejection('span.addTags', span.addTags(tags));
  } catch (error) {
    debug('span.addTags failed', error);
  }
}

export function safeLog(span: Span, fields: Record<string, unknown>, timestamp?: number): void {
  try {
    observeRejection('span.log', span.log(fields, timestamp));
  } catch (error) {
    debug('span.log failed', error);
  }
}

export function safeSetOperationName(span: Span, name: string): void {
  try {
    observeRejection('span.setOperationName', span.setOperationName(name));
  } catch (error) {
    debug('span.setOperationName failed', error);
  }
}

/** Spans finished through `safeFinish`. */
const finished = new ObjectSlot<true>('otinst.finished');

/** True when otinst finished `span` already. */
export function wasFinished(span: Span): boolean {
  return finished.get(span) === true;
}

export function safeFinish(span: Span): void {
  finished.set(span, true);
  try {
    observeRejection('span.finish', span.finish() as unknown);
  } catch (error) {
    debug('span.finish failed', error);
  }
}

/**
 * Tags the span as failed and logs the error the way OpenTracing's semantic
 * conventions ask: `{ event: 'error', 'error.kind', 'error.object', message, stack }`.
 */
export function recordErrorOnSpan(span: Span, error: unknown): void {
  safeSetTag(span, 'error', true);
  safeLog(span, errorFields(error));
}

export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    return {
      event: 'error',
      'error.kind': error.name,
      'error.object': error,
      message: error.message,
      stack: error.stack,
    };
  }
  return { event: 'error', 'error.kind': typeof error, 'error.object': error, message: String(error) };
}
