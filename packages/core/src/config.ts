/**
 * Header settings shared by the server middleware and the HTTP client hooks
 * (the Python original's `CONFIG`).
 */
export interface InstrumentationConfig {
  /** Incoming headers naming the calling service, tagged `peer.service` on server spans. First match wins. @default [] (the Python original's default) */
  callerNameHeaders: readonly string[];
  /** Outgoing headers naming the called service, tagged `peer.service` on client spans. @default [] */
  calleeNameHeaders: readonly string[];
  /** Outgoing headers naming the called endpoint; client spans are then named `<METHOD>:<endpoint>`. @default [] */
  calleeEndpointHeaders: readonly string[];
}

const DEFAULTS: InstrumentationConfig = Object.freeze({
  callerNameHeaders: Object.freeze([]),
  calleeNameHeaders: Object.freeze([]),
  calleeEndpointHeaders: Object.freeze([]),
});

let current: InstrumentationConfig = DEFAULTS;

function normaliseList(name: keyof InstrumentationConfig, value: unknown): readonly string[] {
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
