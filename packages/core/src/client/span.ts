import type { Span } from 'opentracing';
import { getConfig } from '../config';
import { getCurrentSpan, isTracingSuppressed } from '../context';
import { childOptions, defaultTracer, safeSetTags, safeStartSpan, tracerOf, wasFinished } from '../tracer';

/**
 * The span a new client span should hang under, or null. A callback scheduled
 * inside a request (a batch exporter's timer, say) can run after that
 * request's span finished: it must not hang new children on it, or a tracer
 * that exports over HTTP would trace its own exports forever.
 */
export function currentParent(): Span | null {
  const parent = getCurrentSpan();
  return parent !== null && !wasFinished(parent) ? parent : null;
}

/**
 * The one helper every hook uses: a child of the current span, tagged, or
 * `null` when there is nothing to trace (tracing suppressed, no current span
 * while a parent is required, or a failing tracer). Allocates nothing on the
 * `null` path.
 */
export function startClientSpan(
  operationName: string,
  tags: Record<string, unknown>,
  requireParent: boolean = getConfig().requireParentSpan,
): Span | null {
  if (isTracingSuppressed()) return null;
  const parent = currentParent();
  if (parent === null && requireParent) return null;
  const tracer = parent === null ? defaultTracer() : tracerOf(parent);
  const span = safeStartSpan(tracer, operationName, childOptions(parent, tracer));
  if (span !== null) safeSetTags(span, tags);
  return span;
}

/** True when a client hook would create a span here: for hooks that do costly preparation first. */
export function wouldTrace(requireParent: boolean = getConfig().requireParentSpan): boolean {
  if (isTracingSuppressed()) return false;
  return !requireParent || currentParent() !== null;
}
