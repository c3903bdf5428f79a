import { errorMonitor } from 'node:events';
import http from 'node:http';
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { urlToHttpOptions } from 'node:url';
import type { Span } from 'opentracing';
import { beforeHttpRequest, type HttpClientRequest } from '../client/http';
import { wouldTrace } from '../client/span';
import { debug } from '../safe';
import * as tags from '../tags';
import { recordErrorOnSpan, safeFinish, safeLog, safeSetTag } from '../tracer';
import type { ClientHook } from './hook';
import { finishSpan } from './lifecycle';
import { wrapMethod } from './wrap';

/**
 * The `http` client hook: `request` and `get` of `node:http` and `node:https`,
 * and so every library built on them (axios, got, superagent, node-fetch).
 *
 * Why patching, on every Node line: Node 20 has no `http.client.request.created`
 * channel, and `http.client.request.start` fires after the headers are frozen
 * (node-facts.md), so on 20 nothing but a patch can inject. 22 and 24 could
 * inject from the channel, but two mechanisms would need deduplication and
 * would behave differently per line; one patch behaves the same everywhere.
 * The cost: a reference to `http.request` taken before installation is not
 * traced. `syncBuiltinESMExports()` carries the patch to ESM named imports
 * (`import { request } from 'node:http'`), which are live bindings.
 *
 * The caller's options and headers are never written: when the tracer injects
 * headers, the request gets a shallow copy of the options with a copied
 * headers object (or array). The span finishes on the request's `close`, which
 * Node emits exactly once after the response ended, after an error, an abort
 * or a destroy; the outcome is read from the request then. Listening changes
 * nothing for the caller: errors are watched through `events.errorMonitor`
 * (an `'error'` listener would swallow the caller's unhandled errors), and no
 * `'response'` listener is added (one would stop Node from dumping a response
 * nobody reads). A response that the caller never consumes never ends: Node
 * keeps the socket, and the span stays open with it.
 */

const kState = Symbol('otinst.httpClientRequest');

type RequestFunction = (this: unknown, input: unknown, options?: unknown, callback?: unknown) => ClientRequest;

/** The fields of Node's ClientRequest read here that @types/node does not declare. */
type TracedClientRequest = ClientRequest & {
  [kState]?: OutgoingRequest;
  res?: IncomingMessage | null;
  timeout?: number;
  upgradeOrConnect?: boolean;
};

interface OptionsView {
  protocol?: unknown;
  hostname?: unknown;
  host?: unknown;
  port?: unknown;
  defaultPort?: unknown;
  path?: unknown;
  method?: unknown;
  headers?: unknown;
  agent?: unknown;
  _defaultAgent?: unknown;
}

type FlatHeaders = unknown[];
type HeaderPairs = unknown[][];

/**
 * The outgoing request as core sees it, and the state of its span. One object
 * per traced request; the listeners are shared functions that find it on the
 * `ClientRequest` under `kState`.
 */
class OutgoingRequest implements HttpClientRequest {
  readonly method: string;
  readonly fullUrl: string;
  readonly host: string;
  readonly port: number;
  /** The caller's headers: read, never written. */
  readonly given: unknown;
  /** The copy that carries the injected headers; made on the first `setHeader`. */
  headers: unknown = undefined;
  span: Span | null = null;
  hasError = false;
  error: unknown = undefined;
  timedOut = false;

  constructor(options: OptionsView, secure: boolean) {
    const defaultAgent = (secure ? https.globalAgent : (options._defaultAgent ?? http.globalAgent)) as
      Agent | undefined;
    const agent = typeof options.agent === 'object' && options.agent !== null ? (options.agent as Agent) : undefined;
    // the same precedence as Node's ClientRequest (lib/_http_client.js)
    const protocol =
      nonEmptyString(options.protocol) ??
      nonEmptyString(agentField(agent, 'protocol')) ??
      nonEmptyString(agentField(defaultAgent, 'protocol')) ??
      (secure ? 'https:' : 'http:');
    const standardPort = protocol === 'https:' ? 443 : 80;
    this.port =
      positiveNumber(options.port) ??
      positiveNumber(options.defaultPort) ??
      positiveNumber(agentField(agent ?? defaultAgent, 'defaultPort')) ??
      standardPort;
    let host = nonEmptyString(options.hostname) ?? nonEmptyString(options.host) ?? 'localhost';
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    this.host = host;
    this.method = nonEmptyString(options.method)?.toUpperCase() ?? 'GET';
    const path = nonEmptyString(options.path) ?? '/';
    const authority = host.includes(':') ? `[${host}]` : host;
    this.fullUrl = `${protocol}//${authority}${this.port === standardPort ? '' : `:${this.port}`}${path}`;
    this.given = options.headers;
  }

  getHeader(name: string): string | undefined {
    return readHeader(this.headers ?? this.given, name);
  }

  setHeader(name: string, value: string): void {
    if (this.headers === undefined) {
      const copy = copyHeaders(this.given);
      // headers Node would read in its own odd way (a string, a number): leave them alone
      if (copy === undefined) return;
      this.headers = copy;
    }
    replaceHeader(this.headers, name, value);
  }
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function positiveNumber(value: unknown): number | undefined {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return number > 0 ? number : undefined;
}

function agentField(agent: Agent | undefined, field: 'protocol' | 'defaultPort'): unknown {
  return agent === undefined ? undefined : (agent as unknown as Record<string, unknown>)[field];
}

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function isPairs(headers: unknown[]): headers is HeaderPairs {
  return headers.length > 0 && Array.isArray(headers[0]);
}

/** A header of an options object, a flat `[name, value, ...]` array or an array of pairs. */
function readHeader(headers: unknown, name: string): string | undefined {
  if (Array.isArray(headers)) {
    if (isPairs(headers)) {
      for (const pair of headers) if (String(pair[0]).toLowerCase() === name) return headerText(pair[1]);
      return undefined;
    }
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === name) return headerText(headers[i + 1]);
    }
    return undefined;
  }
  if (typeof headers === 'object' && headers !== null) {
    const record = headers as Record<string, unknown>;
    for (const key of Object.keys(record)) if (key.toLowerCase() === name) return headerText(record[key]);
  }
  return undefined;
}

function copyHeaders(headers: unknown): unknown {
  if (headers === undefined || headers === null) return {};
  if (Array.isArray(headers))
    return isPairs(headers) ? headers.map((pair) => [...pair]) : [...(headers as FlatHeaders)];
  if (typeof headers === 'object') return { ...(headers as Record<string, unknown>) };
  return undefined;
}

/** Sets `name` in our copy, dropping the caller's value under any spelling: one traceparent on the wire, ours. */
function replaceHeader(headers: unknown, name: string, value: string): void {
  const lower = name.toLowerCase();
  if (Array.isArray(headers)) {
    if (isPairs(headers)) {
      for (let i = headers.length - 1; i >= 0; i--) {
        if (String(headers[i]![0]).toLowerCase() === lower) headers.splice(i, 1);
      }
      headers.push([name, value]);
      return;
    }
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      if (String(headers[i]).toLowerCase() === lower) headers.splice(i, 2);
    }
    headers.push(name, value);
    return;
  }
  const record = headers as Record<string, unknown>;
  for (const key of Object.keys(record)) if (key.toLowerCase() === lower) delete record[key];
  record[name] = value;
}

function onRequestError(this: TracedClientRequest, error: unknown): void {
  const state = this[kState];
  if (state === undefined || state.hasError) return;
  state.hasError = true;
  state.error = error;
}

function onRequestTimeout(this: TracedClientRequest): void {
  const state = this[kState];
  if (state !== undefined) state.timedOut = true;
}

/** Node emits `close` once per request, whatever the outcome: the one place the span finishes. */
function onRequestClose(this: TracedClientRequest): void {
  const state = this[kState];
  if (state === undefined || state.span === null) return;
  const span = state.span;
  state.span = null;
  const response = this.res;
  if (response !== null && response !== undefined) safeSetTag(span, tags.HTTP_STATUS_CODE, response.statusCode);
  if (state.timedOut) {
    // a timeout alone is not a failure: a caller that does not destroy the request still gets its response
    const after = typeof this.timeout === 'number' ? ` after ${this.timeout} ms` : '';
    safeLog(span, { event: 'timeout', message: `request timed out${after}` });
  }
  if (state.hasError) {
    recordErrorOnSpan(span, state.error);
  } else if (response === null || response === undefined) {
    safeSetTag(span, tags.ERROR, true);
    safeLog(span, { event: 'error', 'error.kind': 'AbortError', message: 'request closed before a response arrived' });
  } else if (!response.complete && this.upgradeOrConnect !== true) {
    safeSetTag(span, tags.ERROR, true);
    safeSetTag(span, tags.HTTP_ABORTED, true);
    safeLog(span, { event: 'error', 'error.kind': 'AbortError', message: 'response aborted before it was complete' });
  } else if (response.statusCode !== undefined && response.statusCode >= 500) {
    safeSetTag(span, tags.ERROR, true);
    safeLog(span, { event: 'error', 'error.kind': 'HttpError', message: `HTTP ${response.statusCode}` });
  }
  safeFinish(span);
}

/** Node's own test for a URL-like first argument (lib/internal/url.js `isURL`). */
function looksLikeUrl(value: unknown): boolean {
  const url = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown } | null | undefined;
  return Boolean(url?.href && url.protocol && url.auth === undefined && url.path === undefined);
}

/** True while a traced call runs: a patched function that calls another (a `get` over `request`) makes one span. */
let insideTracedCall = false;

function makeWrapper(original: RequestFunction, secure: boolean): RequestFunction {
  return function otinstHttpRequest(this: unknown, input: unknown, options?: unknown, callback?: unknown) {
    if (insideTracedCall || !wouldTrace()) return original.call(this, input, options, callback);
    return tracedRequest(original, this, secure, input, options, callback);
  };
}

/**
 * The request as Node will see it, or null when it is better left untraced:
 * an invalid URL (Node throws its own error), a URL-like object that is no
 * URL (a polyfill: copying it could change what Node sends), options whose
 * getters throw.
 */
function describeRequest(input: unknown, urlForm: boolean, extra: object | undefined, secure: boolean) {
  try {
    let view: OptionsView;
    if (urlForm) {
      const parsed = urlToHttpOptions(typeof input === 'string' ? new URL(input) : (input as URL)) as OptionsView;
      view = extra === undefined ? parsed : Object.assign(parsed, extra);
    } else if (looksLikeUrl(input)) {
      return null;
    } else {
      view = (typeof input === 'object' && input !== null ? input : {}) as OptionsView;
    }
    return new OutgoingRequest(view, secure);
  } catch (error) {
    debug('http hook: reading the request options failed', error);
    return null;
  }
}

function tracedRequest(
  original: RequestFunction,
  self: unknown,
  secure: boolean,
  input: unknown,
  options: unknown,
  callback: unknown,
): ClientRequest {
  const urlForm = typeof input === 'string' || input instanceof URL;
  const extra = urlForm && typeof options === 'object' && options !== null ? options : undefined;
  const outgoing = describeRequest(input, urlForm, extra, secure);
  if (outgoing === null) return original.call(self, input, options, callback);
  let span: Span | null = null;
  try {
    span = beforeHttpRequest(outgoing, 'http');
  } catch (error) {
    // tracing never breaks the app's request (fetch guards its channel handler the same way)
    debug('http hook: starting a span failed', error);
  }
  if (span === null) return original.call(self, input, options, callback);
  outgoing.span = span;
  let request: ClientRequest;
  insideTracedCall = true;
  try {
    if (outgoing.headers === undefined) {
      request = original.call(self, input, options, callback);
    } else if (urlForm) {
      const copy = { ...(extra as object | undefined), headers: outgoing.headers };
      request = original.call(self, input, copy, typeof options === 'function' ? options : callback);
    } else {
      request = original.call(self, { ...(input as object | undefined), headers: outgoing.headers }, options, callback);
    }
  } catch (error) {
    // invalid options, an unknown protocol: Node throws before a request exists
    outgoing.span = null;
    finishSpan(span, error);
    throw error;
  } finally {
    insideTracedCall = false;
  }
  if (typeof (request as { on?: unknown } | null)?.on !== 'function') {
    // another library's stand-in that is no emitter: nothing to wait for
    outgoing.span = null;
    safeFinish(span);
    return request;
  }
  (request as TracedClientRequest)[kState] = outgoing;
  request.on(errorMonitor, onRequestError);
  request.on('timeout', onRequestTimeout);
  request.on('close', onRequestClose);
  return request;
}

/** The `http` client hook (`node:http` and `node:https`). */
export const hook: ClientHook = {
  install() {
    wrapMethod(http, 'request', (original) => makeWrapper(original as RequestFunction, false) as typeof http.request);
    wrapMethod(http, 'get', (original) => makeWrapper(original as RequestFunction, false) as typeof http.get);
    wrapMethod(https, 'request', (original) => makeWrapper(original as RequestFunction, true) as typeof https.request);
    wrapMethod(https, 'get', (original) => makeWrapper(original as RequestFunction, true) as typeof https.get);
    syncBuiltinESMExports();
  },
  unpatch() {
    // the registry restored the originals on the module objects; carry that to ESM named imports
    syncBuiltinESMExports();
    insideTracedCall = false;
  },
};
