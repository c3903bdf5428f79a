import { Span as NoopSpan } from 'opentracing';
import type { Span, Tracer } from 'opentracing';
import { getCurrentSpan, isTracingSuppressed, runWithSpan } from './context';
import { traceCall, type CallEnd } from './hooks/lifecycle';
import { safeExecute } from './safe';
import { childOptions, defaultTracer, safeSetTags, safeStartSpan, tracerOf, wasFinished } from './tracer';

export interface ChildSpanOptions {
  /** @default the parent's tracer, else the configured tracer (`configure({ tracer })` or the adapter's), else globalTracer() */
  tracer?: Tracer | undefined;
  /** A finished parent is no parent: the span then starts a new trace. @default getCurrentSpan() */
  parent?: Span | null | undefined;
  tags?: Record<string, unknown> | undefined;
}

/**
 * The span for a local operation, or null when none must be made: tracing is
 * suppressed (an ignored request), or there is no live parent and one is
 * required. A finished parent is no parent (API.md, "Never a finished
 * parent"): a timer started lazily inside one request would otherwise hang
 * children on that request forever.
 */
function makeSpan(operationName: string, options: ChildSpanOptions, requireParent = false): Span | null {
  if (isTracingSuppressed()) return null;
  const given = options.parent === undefined ? getCurrentSpan() : options.parent;
  const parent = given !== null && wasFinished(given) ? null : given;
  if (parent === null && requireParent) return null;
  const tracer = options.tracer ?? (parent !== null ? tracerOf(parent) : defaultTracer());
  const span = safeStartSpan(tracer, operationName, childOptions(parent, tracer));
  if (span !== null && options.tags !== undefined) safeSetTags(span, options.tags);
  return span;
}

/**
 * Starts a span that is a child of the current span (or of `parent`), or a
 * new trace when there is none or it has finished. The caller finishes it.
 * Where tracing is suppressed (an ignored request), a no-op span.
 *
 * @example
 * ```ts
 * import { startChildSpan } from '@otinst/core';
 * const span = startChildSpan('render-invoice', { tags: { 'invoice.id': id } });
 * try { render(id); } finally { span.finish(); }
 * ```
 */
export function startChildSpan(operationName: string, options: ChildSpanOptions = {}): Span {
  if (typeof operationName !== 'string' || operationName === '') {
    throw new TypeError('@otinst/core: startChildSpan needs an operation name');
  }
  const span = makeSpan(operationName, options);
  // the tracer failed (logged): a no-op span keeps the caller's code path unchanged
  return span ?? new NoopSpan();
}

export interface TraceFunctionOptions<A extends unknown[]> {
  /** The span's operation name. @default the function's name */
  name?: string | undefined;
  /** Called with the new span and the call's arguments, before the function runs. */
  onStart?: ((span: Span, ...args: A) => void) | undefined;
  /** Make no span (just call the function) when there is no current span, or it has finished. @default false */
  requireActiveTrace?: boolean | undefined;
  /** @default the parent's tracer, else the configured tracer (`configure({ tracer })` or the adapter's), else globalTracer() */
  tracer?: Tracer | undefined;
}

/**
 * Only native promises (what async functions return) are followed. Other
 * thenables are often lazy (knex query builders, mongoose queries): calling
 * their `then` runs the query, and the caller's own `await` would run it again.
 */
const USER_FUNCTION_END: CallEnd = { nativePromisesOnly: true };

/**
 * Wraps `fn` so that each call runs inside a child span of the current span
 * The span is active while `fn`
 * runs, so calls it makes nest under it. Works for sync functions and for
 * functions that return promises: a throw or rejection sets `error=true`,
 * logs the error and rethrows the same error.
 *
 * @example
 * ```ts
 * import { traceFunction } from '@otinst/core';
 * const loadUser = traceFunction(async (id: string) => db.users.find(id), { name: 'load-user' });
 * await loadUser('7');
 * ```
 */
export function traceFunction<A extends unknown[], R>(
  fn: (...args: A) => R,
  options: TraceFunctionOptions<A> = {},
): (...args: A) => R {
  if (typeof fn !== 'function') throw new TypeError('@otinst/core: traceFunction expects a function');
  const name = options.name ?? (fn.name || 'anonymous');
  const { onStart, requireActiveTrace = false, tracer } = options;
  const traced = function (this: unknown, ...args: A): R {
    const span = makeSpan(name, { tracer }, requireActiveTrace);
    if (span === null) return fn.apply(this, args);
    if (onStart !== undefined) safeExecute('traceFunction onStart', () => onStart(span, ...args));
    // the hooks' lifecycle: a throw is recorded and rethrown; a promise settles into a derived one
    // (a rejection nobody awaits still reaches `unhandledRejection`), the span finished first
    return traceCall(span, () => runWithSpan(span, () => fn.apply(this, args)), USER_FUNCTION_END);
  };
  Object.defineProperty(traced, 'name', { value: name });
  return traced;
}
