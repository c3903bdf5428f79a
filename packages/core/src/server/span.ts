import { FORMAT_HTTP_HEADERS, globalTracer, Span as NoopSpan, Tracer as NoopTracer } from 'opentracing';
import type { Span, Tracer } from 'opentracing';
import { isIPv4 } from 'node:net';
import type { ResolvedOptions } from '../options';
import { debug, isThenable, safeExecute, warnOnce } from '../safe';
import * as tags from '../tags';
import {
  childOptions,
  errorFields,
  isNoopTracer,
  resolveTracer,
  safeExtract,
  safeFinish,
  safeLog,
  safeSetOperationName,
  safeSetTag,
  safeSetTags,
  safeStartSpan,
} from '../tracer';
import type { RequestWrapper } from '../types';
import { getConfig } from '../config';
import { rememberLast } from '../memo';
import { sanitiseUrl } from '../url';
import { firstHeader } from './request';

/**
 * opentracing's no-op tracer (the global tracer until `initGlobalTracer`)
 * hands out this one span: nobody reads its tags, so nothing is computed for it.
 */
const NOOP_SPAN = new NoopTracer().startSpan('noop');

const SENSITIVE_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
const REDACTED = '[REDACTED]';

/**
 * The wrapper's own `callerName`, or else the first configured caller-name
 * header, so that a user's wrapper
 * without the getter still tags `peer.service`.
 */
function callerNameOf(request: RequestWrapper): string | undefined {
  const own = request.callerName;
  if (own !== undefined) return own;
  const names = getConfig().callerNameHeaders;
  return names.length === 0 ? undefined : firstHeader(request.headers, names);
}

/** `isIPv4`, remembering the last answer: keep-alive connections bring the same client address again and again. */
const isPeerIPv4 = rememberLast(isIPv4);

function startTags(request: RequestWrapper, component: string | undefined): Record<string, unknown> {
  const startTags: Record<string, unknown> = {
    [tags.SPAN_KIND]: tags.KIND_SERVER,
    [tags.HTTP_METHOD]: request.method,
    // sanitised here, not in the wrapper: a user's own RequestWrapper gets the same protection
    [tags.HTTP_URL]: sanitiseUrl(request.fullUrl),
  };
  if (component !== undefined) startTags[tags.COMPONENT] = component;
  const ip = request.remoteIp;
  if (ip) startTags[isPeerIPv4(ip) ? tags.PEER_IPV4 : tags.PEER_IPV6] = ip;
  const port = request.remotePort;
  if (port) startTags[tags.PEER_PORT] = port;
  const caller = callerNameOf(request);
  if (caller) startTags[tags.PEER_SERVICE] = caller;
  return startTags;
}

/**
 * The span came from opentracing's no-op tracer through the global tracer:
 * no tracer was given and `initGlobalTracer` was never called,
 * and every request works while nothing is recorded. Said once per process.
 */
function warnIfNoTracer(): void {
  warnOnce(
    'OTINST_NO_TRACER',
    'otinst: no tracer, so no span is recorded: pass your tracer to the adapter ' +
      '(tracingMiddleware(tracer), or the `tracer` option of the fastify and hapi plugins), ' +
      "call configure({ tracer }), or call opentracing's initGlobalTracer(tracer) at start-up",
  );
}

function startSpan(
  tracer: Tracer,
  request: RequestWrapper,
  operationName: string,
  component: string | undefined,
): Span | null {
  let span: Span | null = NOOP_SPAN;
  if (!isNoopTracer(tracer)) {
    const parent = safeExtract(tracer, FORMAT_HTTP_HEADERS, request.headers);
    span = safeStartSpan(tracer, operationName, childOptions(parent, tracer));
  }
  if (span === NOOP_SPAN && tracer === globalTracer()) warnIfNoTracer();
  if (span === null || span === NOOP_SPAN) return span;
  let spanTags: Record<string, unknown>;
  try {
    spanTags = startTags(request, component);
  } catch (error) {
    // a throwing RequestWrapper getter: leave no span open behind the caller's error
    safeFinish(span);
    throw error;
  }
  // tags after start, not in the startSpan options: some tracers (MockTracer) ignore those
  safeSetTags(span, spanTags);
  return span;
}

/**
 * Starts the server span for `request`: the parent is extracted from the
 * headers (`FORMAT_HTTP_HEADERS`); a failed or empty extraction starts a new
 * trace. Never throws: when the
 * tracer itself fails, a no-op span is returned.
 *
 * @example
 * ```ts
 * import { beforeRequest, NodeRequestWrapper } from '@otinst/core';
 * const span = beforeRequest(NodeRequestWrapper.fromIncomingMessage(req), tracer);
 * ```
 */
export function beforeRequest(request: RequestWrapper, tracer?: Tracer): Span {
  let span: Span | null = null;
  try {
    const operation = safeExecute('request.operation', () => request.operation, 'GET');
    span = startSpan(resolveTracer(tracer), request, operation, undefined);
  } catch (error) {
    // a throwing RequestWrapper getter: never the request's problem
    debug('starting the server span failed', error);
  }
  // the tracer or the wrapper failed: a no-op span keeps the caller's code path unchanged
  return span ?? new NoopSpan();
}

/** Reads a response header for `captureResponseHeaders`; adapters pass their framework's getter. */
export type ResponseHeaderReader = (response: unknown, name: string) => unknown;

function headerValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/**
 * One request's server span, from start to the one and only finish. Adapters
 * create it with `startServerSpan`, tell it the route and errors as the
 * framework reveals them, and call `finish` when the response ends or the
 * client goes away.
 */
export class ServerSpan {
  readonly span: Span;
  readonly #options: ResolvedOptions;
  readonly #request: unknown;
  readonly #method: string;
  readonly #path: string;
  #route: string | undefined = undefined;
  #error: unknown = undefined;
  #errorTime = 0;
  #finished = false;
  readonly #startName: string;
  /** The route the span was started with (its name already says it), if any. */
  readonly #startRoute: string | undefined;

  /**
   * Nothing to record or call at the end (the no-op tracer's span, and no
   * `onFinish`): `finishWithResponse` then adds no listener.
   */
  readonly trivial: boolean;

  constructor(
    span: Span,
    options: ResolvedOptions,
    request: unknown,
    wrapper: RequestWrapper,
    startName?: string,
    startRoute?: string,
  ) {
    this.span = span;
    this.trivial = span === NOOP_SPAN && options.onFinish === undefined;
    this.#options = options;
    this.#request = request;
    this.#method = wrapper.method;
    this.#path = wrapper.path;
    this.#startName = startName ?? this.#method;
    this.#startRoute = startRoute;
  }

  get finished(): boolean {
    return this.#finished;
  }

  get route(): string | undefined {
    return this.#route;
  }

  /** The matched route template, mount prefixes included. The last call wins. */
  setRoute(template: string | undefined): void {
    if (template !== undefined && template !== '') this.#route = template;
  }

  /**
   * Remembers an error the framework reported (the first one: koa reports the
   * same error from every unwound middleware). Whether it marks the span is
   * decided at finish, by the status actually sent: an error that became a
   * 4xx answer (`ctx.throw(404)`, a validation error, `Boom.notFound()`) is the
   * client's, not the server's.
   */
  recordError(error: unknown): void {
    if (this.#finished || error === undefined || this.#error !== undefined) return;
    this.#error = error;
    this.#errorTime = Date.now();
  }

  /** True once an error was recorded. */
  get hasError(): boolean {
    return this.#error !== undefined;
  }

  /**
   * Names, tags and finishes the span; every call after the first does
   * nothing. `statusCode` undefined means no response was sent.
   */
  finish(
    statusCode: number | undefined,
    response: unknown,
    readResponseHeader?: ResponseHeaderReader,
    aborted = false,
  ): void {
    if (this.#finished) return;
    this.#finished = true;
    const span = this.span;
    const options = this.#options;
    const route = this.#route;
    // started with its final name (the route known at start, no hook): nothing to build or compare
    let name =
      route === this.#startRoute ? this.#startName : route === undefined ? this.#method : `${this.#method} ${route}`;
    if (options.operationName !== undefined) {
      const hook = options.operationName;
      const info = { method: this.#method, route, path: this.#path, request: this.#request };
      const custom: unknown = safeExecute('operationName hook', () => hook(info), name);
      if (typeof custom === 'string' && custom !== '') name = custom;
      // an async hook: its promise (rejection observed by safeExecute) is no name; the default stands
      else if (isThenable(custom)) debug('operationName hook returned a promise: it must return a string');
    }
    if (name !== this.#startName) safeSetOperationName(span, name);
    // one addTags call: opentracing's setTag allocates an object per call anyway
    const endTags: Record<string, unknown> = {};
    if (route !== undefined) endTags[tags.HTTP_ROUTE] = route;
    if (statusCode !== undefined) endTags[tags.HTTP_STATUS_CODE] = statusCode;
    if (aborted) endTags[tags.HTTP_ABORTED] = true;
    // error=true for a 5xx, and for an error after which no complete response went out
    const failed = statusCode === undefined || statusCode >= 500 || aborted;
    const logError = this.#error !== undefined && failed;
    if (logError || (statusCode !== undefined && statusCode >= 500)) endTags[tags.ERROR] = true;
    safeSetTags(span, endTags);
    if (logError) {
      safeLog(span, errorFields(this.#error), this.#errorTime);
    } else if (statusCode !== undefined && statusCode >= 500) {
      safeLog(span, { event: 'error', 'error.kind': 'HttpError', message: `HTTP ${statusCode}` });
    }
    if (readResponseHeader !== undefined && options.captureResponseHeaders.length > 0) {
      this.#captureHeaders(tags.RESPONSE_HEADER_PREFIX, options.captureResponseHeaders, (name) =>
        headerValue(readResponseHeader(response, name)),
      );
    }
    if (options.onFinish !== undefined) {
      const hook = options.onFinish;
      safeExecute('onFinish hook', () => hook(span, this.#request, response));
    }
    safeFinish(span);
  }

  #captureHeaders(prefix: string, names: readonly string[], read: (name: string) => string | undefined): void {
    for (const name of names) {
      const value = safeExecute('reading a header', () => read(name), undefined);
      if (value === undefined) continue;
      const redact = SENSITIVE_HEADERS.has(name) && !this.#options.allowSensitiveHeaders.has(name);
      safeSetTag(this.span, prefix + name, redact ? REDACTED : value);
    }
  }

  /** @internal */
  captureRequestHeaders(headers: Record<string, string | string[] | undefined>): void {
    this.#captureHeaders(tags.REQUEST_HEADER_PREFIX, this.#options.captureRequestHeaders, (name) =>
      headerValue(headers[name]),
    );
  }
}

/**
 * True when the request must not be traced (`ignore` option). A throwing
 * `ignore` function counts as "not ignored".
 */
export function isIgnored(options: ResolvedOptions, path: string, request: unknown): boolean {
  const rule = options.isIgnored;
  if (rule === null) return false;
  return safeExecute('ignore rule', () => rule(path, request), false);
}

/**
 * Starts the server span for one request, or returns `null` when the tracer
 * failed (the request then runs untraced). `route` may be given when the
 * framework already knows it (fastify).
 */
export function startServerSpan(
  options: ResolvedOptions,
  wrapper: RequestWrapper,
  request: unknown,
  route?: string,
): ServerSpan | null {
  let span: Span | null = null;
  let handle: ServerSpan;
  try {
    // when the framework already knows the route (fastify), the span starts with its final name:
    // no rename at finish, which some tracers pay for (jaeger-client re-runs its sampler)
    const method = wrapper.method;
    const named = route !== undefined && route !== '' && options.operationName === undefined;
    const startName = named ? `${method} ${route}` : method;
    span = startSpan(resolveTracer(options.tracer), wrapper, startName, options.component);
    if (span === null) return null;
    handle = new ServerSpan(span, options, request, wrapper, startName, named ? route : undefined);
    if (route !== undefined) handle.setRoute(route);
    if (options.captureRequestHeaders.length > 0 && span !== NOOP_SPAN) handle.captureRequestHeaders(wrapper.headers);
  } catch (error) {
    // a throwing RequestWrapper getter, say: never the request's problem
    debug('starting the server span failed', error);
    // a span started before the failure must not stay open
    if (span !== null) safeFinish(span);
    return null;
  }
  if (options.onStart !== undefined) {
    const hook = options.onStart;
    safeExecute('onStart hook', () => hook(span, request));
  }
  return handle;
}
