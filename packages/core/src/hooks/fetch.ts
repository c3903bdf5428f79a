import diagnosticsChannel from 'node:diagnostics_channel';
import type { Span } from 'opentracing';
import { beforeHttpRequest, splitHostAndPort, type HttpClientRequest } from '../client/http';
import { wouldTrace } from '../client/span';
import { debug } from '../safe';
import * as tags from '../tags';
import { ObjectSlot } from '../object-slot';
import { recordErrorOnSpan, safeFinish, safeLog, safeSetTag } from '../tracer';
import type { ClientHook } from './hook';

/**
 * The `fetch` client hook: Node's global `fetch` and the `undici` npm package,
 * through undici's own diagnostics channels (the way undici's docs ask to be
 * instrumented). Nothing is patched, so it works for every copy of undici,
 * loaded before or after installation, from CommonJS or ESM. undici speaks
 * HTTP itself (not through `node:http`), so the `http` hook never sees these
 * requests: one request, one span.
 *
 * `undici:request:create` fires synchronously in the caller's async context
 * (measured on Node 20, 22 and 24), so the new span is a child of the caller's
 * current span, and `request.addHeader` still reaches the wire there.
 * Redirects and retries are separate undici requests: one span each.
 */

/** The fields of undici's internal `Request` read here (undici 5 keeps headers as a string, 6 and 7 as a flat array). */
interface UndiciRequest {
  origin?: unknown;
  path?: unknown;
  method?: unknown;
  headers?: unknown;
  addHeader(name: string, value: string): unknown;
}

/** The span of each request in flight, on undici's request object. */
const spans = new ObjectSlot<Span>('otinst.fetchSpan');

class FetchRequest implements HttpClientRequest {
  readonly method: string;
  readonly fullUrl: string;
  readonly host: string;
  readonly port: number;
  readonly #request: UndiciRequest;

  constructor(request: UndiciRequest) {
    this.#request = request;
    const origin = typeof request.origin === 'string' ? request.origin : String(request.origin);
    const path = typeof request.path === 'string' ? request.path : '/';
    this.method = typeof request.method === 'string' ? request.method : 'GET';
    this.fullUrl = origin.endsWith('/') && path.startsWith('/') ? origin + path.slice(1) : origin + path;
    const schemeEnd = origin.indexOf('://');
    const scheme = schemeEnd === -1 ? 'http' : origin.slice(0, schemeEnd);
    const authority = schemeEnd === -1 ? origin : origin.slice(schemeEnd + 3);
    const slash = authority.indexOf('/');
    const { host, port } = splitHostAndPort(slash === -1 ? authority : authority.slice(0, slash), scheme);
    this.host = host;
    this.port = port;
  }

  getHeader(name: string): string | undefined {
    const headers = this.#request.headers;
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) {
        if (String(headers[i]).toLowerCase() === name) {
          const value: unknown = headers[i + 1];
          return Array.isArray(value) ? value.join(', ') : String(value);
        }
      }
      return undefined;
    }
    if (typeof headers === 'string') {
      for (const line of headers.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) return line.slice(colon + 1).trim();
      }
    }
    return undefined;
  }

  setHeader(name: string, value: string): void {
    const headers = this.#request.headers;
    if (Array.isArray(headers)) {
      // the caller's own traceparent (from manual propagation) would make two on the wire: ours wins
      const lower = name.toLowerCase();
      for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (String(headers[i]).toLowerCase() === lower) headers.splice(i, 2);
      }
    }
    this.#request.addHeader(name, value);
  }
}

interface RequestMessage {
  request?: UndiciRequest;
  response?: { statusCode?: unknown };
  error?: unknown;
}

// A diagnostics_channel subscriber that throws becomes an uncaught exception
// (Node rethrows it on the next tick): each handler catches everything.

function onCreate(message: unknown): void {
  try {
    if (!wouldTrace()) return;
    const request = (message as RequestMessage).request;
    if (typeof request !== 'object' || request === null || typeof request.addHeader !== 'function') return;
    const span = beforeHttpRequest(new FetchRequest(request), 'fetch');
    if (span !== null) spans.set(request, span);
  } catch (error) {
    debug('fetch hook: starting a span failed', error);
  }
}

function onHeaders(message: unknown): void {
  try {
    const { request, response } = message as RequestMessage;
    const span = request === undefined ? undefined : spans.get(request);
    if (span === undefined) return;
    const status = response?.statusCode;
    if (typeof status !== 'number') return;
    safeSetTag(span, tags.HTTP_STATUS_CODE, status);
    if (status >= 500) {
      safeSetTag(span, tags.ERROR, true);
      safeLog(span, { event: 'error', 'error.kind': 'HttpError', message: `HTTP ${status}` });
    }
  } catch (error) {
    debug('fetch hook: tagging the status failed', error);
  }
}

/** `trailers` fires when the whole response has arrived. */
function onTrailers(message: unknown): void {
  try {
    const request = (message as RequestMessage).request;
    const span = request === undefined ? undefined : spans.get(request);
    if (span === undefined) return;
    spans.delete(request!);
    safeFinish(span);
  } catch (error) {
    debug('fetch hook: finishing a span failed', error);
  }
}

function onError(message: unknown): void {
  try {
    const { request, error } = message as RequestMessage;
    const span = request === undefined ? undefined : spans.get(request);
    if (span === undefined) return;
    spans.delete(request!);
    recordErrorOnSpan(span, error);
    safeFinish(span);
  } catch (failure) {
    debug('fetch hook: recording an error failed', failure);
  }
}

const SUBSCRIPTIONS: readonly [string, (message: unknown) => void][] = [
  ['undici:request:create', onCreate],
  ['undici:request:headers', onHeaders],
  ['undici:request:trailers', onTrailers],
  ['undici:request:error', onError],
];

let subscribed = false;

/** The `fetch` client hook (global `fetch` and `undici`). */
export const hook: ClientHook = {
  install() {
    if (subscribed) return;
    subscribed = true;
    for (const [name, handler] of SUBSCRIPTIONS) diagnosticsChannel.subscribe(name, handler);
  },
  unpatch() {
    if (!subscribed) return;
    subscribed = false;
    for (const [name, handler] of SUBSCRIPTIONS) diagnosticsChannel.unsubscribe(name, handler);
  },
};
