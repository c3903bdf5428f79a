import type { Tracer } from 'opentracing';

/**
 * Process-wide settings shared by the server middleware and the client hooks
 * (the Python original's `CONFIG`).
 */
export interface InstrumentationConfig {
  /**
   * The tracer for every span started outside an active span (consumer spans,
   * local spans, hooks without a parent). An adapter given a tracer sets it
   * when it is created, unless one was configured already.
   * @default undefined: `opentracing.globalTracer()`, looked up per span
   */
  tracer: Tracer | undefined;
  /** Client hooks create a span only when a span is active. @default true */
  requireParentSpan: boolean;
  /** Record SQL parameter values as `db.params`. @default false */
  captureParameters: boolean;
  /** Keep string and number literals in `db.statement` (otherwise each becomes `?`). @default false */
  captureSqlLiterals: boolean;
  /** Incoming headers naming the calling service, tagged `peer.service` on server spans. First match wins. @default [] (the Python original's default) */
  callerNameHeaders: readonly string[];
  /** Outgoing headers naming the called service, tagged `peer.service` on client spans. @default [] */
  calleeNameHeaders: readonly string[];
  /** Outgoing headers naming the called endpoint; client spans are then named `<METHOD>:<endpoint>`. @default [] */
  calleeEndpointHeaders: readonly string[];
}

const DEFAULTS: InstrumentationConfig = Object.freeze({
  tracer: undefined,
  requireParentSpan: true,
  captureParameters: false,
  captureSqlLiterals: false,
  callerNameHeaders: Object.freeze([]),
  calleeNameHeaders: Object.freeze([]),
  calleeEndpointHeaders: Object.freeze([]),
});

let current: InstrumentationConfig = DEFAULTS;

type HeaderListKey = 'callerNameHeaders' | 'calleeNameHeaders' | 'calleeEndpointHeaders';
type FlagKey = 'requireParentSpan' | 'captureParameters' | 'captureSqlLiterals';

function normaliseList(name: HeaderListKey, value: unknown): readonly string[] {
  if (typeof value === 'string') value = [value];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    throw new TypeError(`@otinst/core: configure(): ${name} must be an array of header names`);
  }
  return Object.freeze(value.map((item: string) => item.toLowerCase()));
}

/**
 * Sets the caller/callee header names. Header names are case-insensitive; the
 * first one present wins. Unset fields keep their value.
 *
 * @example
 * ```ts
 * import { configure } from '@otinst/core';
 * configure({ callerNameHeaders: ['x-service-name'], calleeNameHeaders: ['x-target-service'] });
 * ```
 */
export function configure(settings: Partial<InstrumentationConfig>): void {
  if (typeof settings !== 'object' || settings === null) {
    throw new TypeError('@otinst/core: configure() expects an object');
  }
  const next: InstrumentationConfig = { ...current };
  for (const key of ['callerNameHeaders', 'calleeNameHeaders', 'calleeEndpointHeaders'] as const) {
    if (settings[key] !== undefined) next[key] = normaliseList(key, settings[key]);
  }
  for (const key of ['requireParentSpan', 'captureParameters', 'captureSqlLiterals'] as const satisfies FlagKey[]) {
    const value = settings[key];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw new TypeError(`@otinst/core: configure(): ${key} must be true or false`);
    next[key] = value;
  }
  if (settings.tracer !== undefined) {
    const tracer = settings.tracer as Partial<Tracer> | null;
    if (tracer !== null && (typeof tracer !== 'object' || typeof tracer.startSpan !== 'function')) {
      throw new TypeError('@otinst/core: configure(): tracer must be an OpenTracing Tracer');
    }
    next.tracer = (tracer as Tracer | null) ?? undefined;
  }
  current = Object.freeze(next);
}

/** Puts every setting back to its default. */
export function resetConfig(): void {
  current = DEFAULTS;
}

/** The settings in force. */
export function getConfig(): InstrumentationConfig {
  return current;
}
