import type { Span, Tracer } from 'opentracing';
import { configure, getConfig, nameList } from './config';
import { debug, isThenable, observeRejection } from './safe';
import { applyClientHooks, HOOK_NAMES, isHookName, type ClientHooksSetting } from './hooks/registry';
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
  readonly clientHooks: ClientHooksSetting;
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
  return value === undefined ? [] : nameList(`${packageName}: ${name}`, value);
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
    return (_path, request) => {
      const result = predicate(request);
      if (result === true) return true;
      if (isThenable(result)) {
        // the decision is needed now: an async rule cannot make it (its rejection is logged, not fatal)
        observeRejection('ignore rule', result);
        debug('ignore rule returned a promise: it must return true or false; the request is traced');
      }
      return false;
    };
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

function hookNames(packageName: string, option: string, value: unknown): readonly HookName[] {
  if (!Array.isArray(value)) fail(packageName, `${option} must be an array of hook names (${HOOK_NAMES.join(', ')})`);
  for (const name of value as unknown[]) {
    if (!isHookName(name)) {
      fail(packageName, `${option}: unknown hook "${String(name)}"; valid names are ${HOOK_NAMES.join(', ')}`);
    }
  }
  return Object.freeze([...(value as HookName[])]);
}

/** `clientHooks`: `true`, `false`, a list of hook names, or `{ exclude: [names] }`. */
function clientHooksSetting(packageName: string, value: unknown): ClientHooksSetting {
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value)) return hookNames(packageName, 'clientHooks', value);
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) {
      if (key !== 'exclude') fail(packageName, `clientHooks: unknown key "${key}" (only "exclude")`);
    }
    return Object.freeze({
      exclude: hookNames(packageName, 'clientHooks.exclude', (value as { exclude?: unknown }).exclude),
    });
  }
  return fail(packageName, 'clientHooks must be true, false or an array of hook names, or { exclude: [hook names] }');
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
  return Object.freeze({
    packageName,
    component,
    tracer: tracer ?? undefined,
    clientHooks: clientHooksSetting(packageName, clientHooks),
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

/** Has some of a tracer's methods: meant as a tracer, even if it is not a complete one. */
function looksLikeTracer(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const methods = value as Partial<Record<'startSpan' | 'inject' | 'extract', unknown>>;
  return [methods.startSpan, methods.inject, methods.extract].some((method) => typeof method === 'function');
}

function isPlainOptions(value: unknown): value is TracingOptions<never, never> {
  return typeof value === 'object' && value !== null && !looksLikeTracer(value);
}

/**
 * What every adapter does when it is created: validate the options, make an
 * explicit tracer the process's default when none is configured (the one
 * tracer rule, API.md), then install the client hooks they ask for.
 *
 * The adapters pass what the user gave: `(tracer, options)` or `(options)`
 * (`tracingMiddleware({ tracer, ignore })`). A tracer given as an argument of
 * its own wins over a `tracer` option. The older order `(options, tracer)` is
 * still understood.
 */
export function setupTracing(
  packageName: string,
  component: string,
  tracerOrOptions?: Tracer | TracingOptions<never, never> | null,
  optionsOrTracer?: TracingOptions<never, never> | Tracer | null,
): ResolvedOptions {
  let tracer: unknown;
  let options: unknown;
  for (const argument of [tracerOrOptions, optionsOrTracer]) {
    if (looksLikeTracer(argument) && !isTracer(argument)) {
      fail(packageName, 'tracer must be an OpenTracing Tracer (with startSpan, inject and extract)');
    }
  }
  if (isTracer(tracerOrOptions)) {
    [tracer, options] = [tracerOrOptions, optionsOrTracer];
  } else if (isTracer(optionsOrTracer)) {
    [tracer, options] = [optionsOrTracer, tracerOrOptions];
  } else if (isPlainOptions(tracerOrOptions)) {
    if (isPlainOptions(optionsOrTracer)) {
      fail(
        packageName,
        'got two options objects: pass (tracer, options) or ({ tracer, ...options }), not (options, options)',
      );
    }
    if (optionsOrTracer !== undefined && optionsOrTracer !== null) fail(packageName, 'options must be an object');
    options = tracerOrOptions;
  } else if (tracerOrOptions === undefined || tracerOrOptions === null) {
    options = optionsOrTracer;
  } else {
    fail(packageName, 'the first argument must be an OpenTracing Tracer or an options object');
  }
  if (tracer !== undefined && isPlainOptions(options)) options = { ...options, tracer };
  else if (tracer !== undefined && (options === undefined || options === null)) options = { tracer };
  const resolved = resolveOptions(packageName, component, options as TracingOptions<never, never> | undefined);
  // the first tracer given explicitly becomes the default outside requests; a later adapter's does not override it
  if (resolved.tracer !== undefined && getConfig().tracer === undefined) configure({ tracer: resolved.tracer });
  applyClientHooks(resolved.clientHooks);
  return resolved;
}
