import type { Span, Tracer } from 'opentracing';
import { getCurrentSpan, isTracingSuppressed } from '../context';
import { childOptions, resolveTracer, safeSetTags, safeStartSpan, tracerOf, wasFinished } from '../tracer';

/** Settings every client hook reads. */
export interface HookSettings {
  /**
   * Create a client span only when a span is active (so pool health checks and
   * background jobs make no orphan root spans).
   * @default true
   */
  requireParentSpan: boolean;
  /** Record SQL parameter values as `db.params`. @default false */
  captureParameters: boolean;
  /** Tracer for spans without a parent; spans with a parent use the parent's tracer. @default globalTracer() */
  tracer: Tracer | undefined;
}

export const hookSettings: HookSettings = {
  requireParentSpan: true,
  captureParameters: false,
  tracer: undefined,
};

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
  requireParent: boolean = hookSettings.requireParentSpan,
): Span | null {
  if (isTracingSuppressed()) return null;
  const parent = currentParent();
  if (parent === null && requireParent) return null;
  const tracer = parent === null ? resolveTracer(hookSettings.tracer) : tracerOf(parent, hookSettings.tracer);
  const span = safeStartSpan(tracer, operationName, childOptions(parent));
  if (span !== null) safeSetTags(span, tags);
  return span;
}

/** True when a client hook would create a span here: for hooks that do costly preparation first. */
export function wouldTrace(requireParent: boolean = hookSettings.requireParentSpan): boolean {
  if (isTracingSuppressed()) return false;
  return !requireParent || currentParent() !== null;
}
