import type { Tracer } from 'opentracing';

/**
 * Process-wide settings shared by the server middleware and the client hooks.
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
  /** Incoming headers naming the calling service, tagged `peer.service` on server spans. First match wins. @default [] */
  callerNameHeaders: readonly string[];
  /** Outgoing headers naming the called service, tagged `peer.service` on client spans. @default [] */
  calleeNameHeaders: readonly string[];
  /** Outgoing headers naming the called endpoint; client spans are then named `<METHOD>:<endpoint>`. @default [] */
  calleeEndpointHeaders: readonly string[];
  /**
   * Query parameters whose values `http.url` records as `REDACTED`, added to
   * the built-in list (`DEFAULT_SENSITIVE_QUERY_PARAMETERS`: `password`,
   * `access_token`, `client_secret`, `X-Amz-Signature`, …). Case-insensitive.
   * @default [] (the built-in list only)
   */
  sensitiveQueryParameters: readonly string[];
  /** Record `http.url` without its query string (and fragment) at all. @default false */
  dropQueryString: boolean;
}

const DEFAULTS: InstrumentationConfig = Object.freeze({
  tracer: undefined,
  requireParentSpan: true,
  captureParameters: false,
  captureSqlLiterals: false,
  callerNameHeaders: Object.freeze([]),
  calleeNameHeaders: Object.freeze([]),
  calleeEndpointHeaders: Object.freeze([]),
  sensitiveQueryParameters: Object.freeze([]),
  dropQueryString: false,
});

let current: InstrumentationConfig = DEFAULTS;

type FlagKey = 'requireParentSpan' | 'captureParameters' | 'captureSqlLiterals' | 'dropQueryString';

/**
 * The one validator for a list of case-insensitive names (headers, query
 * parameters), used by `configure()` and by every adapter's options: an
 * array of non-empty strings, lower-cased, duplicates removed, frozen. `where`
 * prefixes the TypeError (`@otinst/express: captureRequestHeaders`).
 */
export function nameList(where: string, value: unknown, what = 'header names'): readonly string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    throw new TypeError(`${where} must be an array of ${what}`);
  }
  return Object.freeze([...new Set(value.map((item: string) => item.toLowerCase()))]);
}

/** What `configure()` takes: any subset of the settings; `tracer: null` clears the tracer. */
export type ConfigureSettings = Partial<Omit<InstrumentationConfig, 'tracer'>> & { tracer?: Tracer | null | undefined };

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
export function configure(settings: ConfigureSettings): void {
  if (typeof settings !== 'object' || settings === null) {
    throw new TypeError('@otinst/core: configure() expects an object');
  }
  const next: InstrumentationConfig = { ...current };
  for (const key of ['callerNameHeaders', 'calleeNameHeaders', 'calleeEndpointHeaders'] as const) {
    if (settings[key] !== undefined) next[key] = nameList(`@otinst/core: configure(): ${key}`, settings[key]);
  }
  if (settings.sensitiveQueryParameters !== undefined) {
    next.sensitiveQueryParameters = nameList(
      '@otinst/core: configure(): sensitiveQueryParameters',
      settings.sensitiveQueryParameters,
      'query parameter names',
    );
  }
  for (const key of [
    'requireParentSpan',
    'captureParameters',
    'captureSqlLiterals',
    'dropQueryString',
  ] as const satisfies FlagKey[]) {
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
