import type { Span, Tracer } from 'opentracing';
import { installAllPatches, installPatches, isHookName } from './hooks/registry';
import type { HookName, OperationNameInfo, TracingOptions } from './types';

/**
 * `TracingOptions` checked and normalised once, when an adapter is created:
 * header lists lower-cased into sets, ignore rules compiled. Nothing here is
 * recomputed per request.
 */
export interface ResolvedOptions {
  readonly packageName: string;
  /** The framework, tagged as `component`. */
  readonly component: string;
  readonly tracer: Tracer | undefined;
  readonly clientHooks: boolean | readonly HookName[];
  /** Null when nothing is ignored (the common case: one comparison per request). */
  readonly isIgnored: ((path: string, request: unknown) => boolean) | null;
  readonly operationName: ((info: OperationNameInfo<unknown>) => string) | undefined;
  readonly onStart: ((span: Span, request: unknown) => void) | undefined;
  readonly onFinish: ((span: Span, request: unknown, response: unknown) => void) | undefined;
  readonly captureRequestHeaders: readonly string[];
  readonly captureResponseHeaders: readonly string[];
  readonly allowSensitiveHeaders: ReadonlySet<string>;
}

const KNOWN_OPTIONS = new Set([
  'tracer',
  'clientHooks',
  'ignore',
  'operationName',
  'onStart',
  'onFinish',
  'captureRequestHeaders',
  'captureResponseHeaders',
  'allowSensitiveHeaders',
]);

function fail(packageName: string, message: string): never {
  throw new TypeError(`${packageName}: ${message}`);
}

function isTracer(value: unknown): value is Tracer {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Tracer).startSpan === 'function' &&
    typeof (value as Tracer).inject === 'function' &&
    typeof (value as Tracer).extract === 'function'
  );
}

function headerList(packageName: string, name: string, value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    fail(packageName, `${name} must be an array of header names`);
  }
  return Object.freeze([...new Set(value.map((item: string) => item.toLowerCase()))]);
}

function optionalFunction<T>(packageName: string, name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(packageName, `${name} must be a function`);
  return value as T;
}

function compileIgnore(packageName: string, value: unknown): ((path: string, request: unknown) => boolean) | null {
  if (value === undefined) return null;
  if (typeof value === 'function') {
    const predicate = value as (request: unknown) => unknown;
    return (_path, request) => predicate(request) === true;
  }
  if (!Array.isArray(value)) {
    fail(packageName, 'ignore must be an array of paths and regular expressions, or a function');
  }
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const patterns: RegExp[] = [];
  for (const rule of value as unknown[]) {
    if (typeof rule === 'string' && rule.startsWith('/')) {
      if (rule.endsWith('/*')) prefixes.push(rule.slice(0, -1));
      else exact.add(rule);
    } else if (rule instanceof RegExp) {
      // a global or sticky regex keeps state between test() calls; strip the flags
      patterns.push(rule.global || rule.sticky ? new RegExp(rule.source, rule.flags.replace(/[gy]/g, '')) : rule);
    } else {
      fail(packageName, `ignore entries must be paths starting with "/" or regular expressions, got ${String(rule)}`);
    }
  }
  if (exact.size === 0 && prefixes.length === 0 && patterns.length === 0) return null;
  return (path) => {
    if (exact.has(path)) return true;
    for (const prefix of prefixes) if (path.startsWith(prefix) || path === prefix.slice(0, -1)) return true;
    for (const pattern of patterns) if (pattern.test(path)) return true;
    return false;
  };
}

/**
 * Validates `options` for the adapter `packageName` (throws a `TypeError`
 * naming the package and the option) and returns them normalised.
 */
export function resolveOptions(
  packageName: string,
  component: string,
  options: TracingOptions<never, never> | undefined,
): ResolvedOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') fail(packageName, 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) fail(packageName, `unknown option "${key}"`);
  }
  const { tracer, clientHooks = true } = options;
  if (tracer !== undefined && tracer !== null && !isTracer(tracer)) {
    fail(packageName, 'tracer must be an OpenTracing Tracer (with startSpan, inject and extract)');
  }
  if (typeof clientHooks !== 'boolean') {
    if (!Array.isArray(clientHooks)) fail(packageName, 'clientHooks must be true, false or an array of hook names');
    for (const name of clientHooks as unknown[]) {
      if (!isHookName(name)) fail(packageName, `clientHooks: unknown hook "${String(name)}"`);
    }
  }
  return Object.freeze({
    packageName,
    component,
    tracer: tracer ?? undefined,
    clientHooks: Array.isArray(clientHooks) ? Object.freeze([...(clientHooks as HookName[])]) : clientHooks,
    isIgnored: compileIgnore(packageName, options.ignore),
    operationName: optionalFunction<ResolvedOptions['operationName']>(
      packageName,
      'operationName',
      options.operationName,
    ),
    onStart: optionalFunction<ResolvedOptions['onStart']>(packageName, 'onStart', options.onStart),
    onFinish: optionalFunction<ResolvedOptions['onFinish']>(packageName, 'onFinish', options.onFinish),
    captureRequestHeaders: headerList(packageName, 'captureRequestHeaders', options.captureRequestHeaders),
    captureResponseHeaders: headerList(packageName, 'captureResponseHeaders', options.captureResponseHeaders),
    allowSensitiveHeaders: new Set(headerList(packageName, 'allowSensitiveHeaders', options.allowSensitiveHeaders)),
  });
}

/**
 * What every adapter does when it is created: validate the options, then
 * install the client hooks they ask for (the Python original's middleware
 * `__init__`). `tracerOrOptions` is a tracer (it wins over `options.tracer`)
 * or, alone, the options object itself (`tracingMiddleware({ tracer, ignore })`).
 */
export function setupTracing(
  packageName: string,
  component: string,
  tracerOrOptions?: Tracer | TracingOptions<never, never> | null,
  options?: TracingOptions<never, never>,
): ResolvedOptions {
  let merged: TracingOptions<never, never> | undefined;
  if (tracerOrOptions === undefined || tracerOrOptions === null) {
    merged = options;
  } else if (typeof tracerOrOptions === 'object' && !('startSpan' in tracerOrOptions)) {
    // the options-object form; something with a startSpan is meant as a tracer, and checked as one
    if (options !== undefined) {
      fail(packageName, 'give the options once: (options) or (tracer, options), not two options objects');
    }
    merged = tracerOrOptions;
  } else if (options !== undefined && (typeof options !== 'object' || options === null)) {
    merged = options; // resolveOptions names the mistake
  } else {
    merged = { ...options, tracer: tracerOrOptions as Tracer };
  }
  const resolved = resolveOptions(packageName, component, merged);
  if (resolved.clientHooks === true) installAllPatches();
  else if (resolved.clientHooks !== false) installPatches(resolved.clientHooks);
  return resolved;
}
