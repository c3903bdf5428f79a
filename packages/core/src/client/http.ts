import { FORMAT_HTTP_HEADERS } from 'opentracing';
import type { Span } from 'opentracing';
import { getConfig } from '../config';
import { safeExecute } from '../safe';
import * as tags from '../tags';
import { peerHostTag } from '../tags';
import { safeInject, tracerOf } from '../tracer';
import { sanitiseUrl } from '../url';
import { ClientInterceptors } from './interceptors';
import { startClientSpan } from './span';

/** A framework-free view of an outgoing HTTP request. */
export interface HttpClientRequest {
  /** Upper-case method. */
  readonly method: string;
  /** The absolute URL (credentials are removed before tagging). */
  readonly fullUrl: string;
  readonly host: string;
  readonly port: number;
  /** A request header by lower-case name. */
  getHeader(name: string): string | undefined;
  /** Sets a request header; used to inject the trace context. */
  setHeader(name: string, value: string): void;
}

/**
 * Splits `host:port`; without a port, 443 for https and 80 otherwise. IPv6
 * literals in brackets keep their colons.
 *
 * @example
 * ```ts
 * splitHostAndPort('example.com:8080', 'http'); // { host: 'example.com', port: 8080 }
 * splitHostAndPort('example.com', 'https');     // { host: 'example.com', port: 443 }
 * ```
 */
export function splitHostAndPort(host: string, scheme: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(host);
  let name = host;
  // also `https:` (a WHATWG URL's protocol) and any case
  let port = /^https:?$/i.test(scheme) ? 443 : 80;
  if (match !== null && (match[1]!.startsWith('[') || !match[1]!.includes(':'))) {
    name = match[1]!;
    port = Number(match[2]);
  }
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  return { host: name, port };
}

function firstConfigured(request: HttpClientRequest, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = request.getHeader(name);
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

// moved to tags.ts (issue 15); kept importable from here for existing imports
export { peerHostTag };

/**
 * Starts the client span for an outgoing HTTP request (a child of the current
 * span), tags it, runs the interceptors and injects the trace context into
 * the request's headers with `FORMAT_HTTP_HEADERS`. Returns `null` when
 * nothing is traced. The caller tags the status and finishes the span.
 *
 * @example
 * ```ts
 * import { beforeHttpRequest } from '@otinst/core';
 * const headers: Record<string, string> = {};
 * const span = beforeHttpRequest({
 *   method: 'GET', fullUrl: 'http://users.internal/users/7', host: 'users.internal', port: 80,
 *   getHeader: (name) => headers[name], setHeader: (name, value) => { headers[name] = value; },
 * });
 * ```
 */
export function beforeHttpRequest(
  request: HttpClientRequest,
  component = 'http',
  requireParent = getConfig().requireParentSpan,
): Span | null {
  const config = getConfig();
  const endpoint =
    config.calleeEndpointHeaders.length === 0 ? undefined : firstConfigured(request, config.calleeEndpointHeaders);
  const method = request.method;
  const spanTags: Record<string, unknown> = {
    [tags.SPAN_KIND]: tags.KIND_CLIENT,
    [tags.COMPONENT]: component,
    [tags.HTTP_METHOD]: method,
    [tags.HTTP_URL]: sanitiseUrl(request.fullUrl),
    [peerHostTag(request.host)]: request.host,
    [tags.PEER_PORT]: request.port,
  };
  if (config.calleeNameHeaders.length > 0) {
    const service = firstConfigured(request, config.calleeNameHeaders);
    if (service !== undefined) spanTags[tags.PEER_SERVICE] = service;
  }
  const span = startClientSpan(endpoint === undefined ? method : `${method}:${endpoint}`, spanTags, requireParent);
  if (span === null) return null;
  const interceptors = ClientInterceptors.getInterceptors();
  for (const interceptor of interceptors) {
    safeExecute('client interceptor', () => interceptor.process(request, span));
  }
  const carrier: Record<string, string> = {};
  if (safeInject(tracerOf(span), span, FORMAT_HTTP_HEADERS, carrier)) {
    let budget = INJECTED_BYTES_LIMIT;
    for (const name of Object.keys(carrier)) {
      // a tracer may leave a getter that throws (issue 11): that header is skipped, the request goes on
      const value = safeExecute('reading an injected header', () => carrier[name], undefined);
      if (typeof value === 'string' && name.length + value.length + 4 <= budget && isSafeHeader(name, value)) {
        budget -= name.length + value.length + 4;
        safeExecute('setting a trace header', () => request.setHeader(name, value));
      }
    }
  }
  return span;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The trace headers of one request stay within 8 KiB in all (Node's servers
 * accept 16 KiB of headers, the app's own included). A tracer can make them
 * far larger than what came in: jaeger-client percent-encodes every
 * `uberctx-*` baggage value, six bytes for one `é`, so ten incoming baggage
 * headers of 1.3 KB became 78 KB downstream and a 431 there.
 */
const INJECTED_BYTES_LIMIT = 8192;

/**
 * A tracer must not be able to smuggle CR/LF (or other control bytes) into an
 * outgoing request, nor text that Node's http client would refuse with a throw
 * (a character above U+00FF): the same rule as Node's and undici's header check.
 */
function isSafeHeaderValue(value: string): boolean {
  return value.length <= 8192 && !/[^\t\x20-\x7e\x80-\xff]/.test(value);
}

/**
 * Propagation headers whose format is known. A tracer may pass on a malformed
 * incoming value: jaeger-client keeps any trace id that `parseInt(id, 16)`
 * reads (`1zzz<script>:1:0:1` goes out as it came in); otinst does not send it
 * downstream.
 */
const KNOWN_FORMATS: ReadonlyMap<string, RegExp> = new Map([
  // version 00 is exactly 55 characters; a later version may append fields (W3C Trace Context)
  [
    'traceparent',
    /^(?:00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}|(?!00|ff)[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(?:-[\x21-\x7e]*)?)$/,
  ],
  ['uber-trace-id', /^[0-9a-f]{1,32}:[0-9a-f]{1,16}:[0-9a-f]{1,16}:[0-9a-f]{1,2}$/i],
]);

/**
 * What a carrier's header name allows, decided once per name (a tracer writes
 * the same few names on every request): `false` (never sent), `null` (sent
 * when its value is safe) or the format its value must have (a known format
 * admits only safe characters).
 */
const headerRules = new Map<string, RegExp | null | false>();
/** Names remembered before the map starts over: a tracer that invents names per request gains nothing. */
const HEADER_RULES_LIMIT = 64;

function ruleFor(name: string): RegExp | null | false {
  let rule = headerRules.get(name);
  if (rule === undefined) {
    const lower = name.toLowerCase();
    rule = HEADER_NAME.test(name) && !RESERVED_HEADERS.has(lower) ? (KNOWN_FORMATS.get(lower) ?? null) : false;
    if (headerRules.size >= HEADER_RULES_LIMIT) headerRules.clear();
    headerRules.set(name, rule);
  }
  return rule;
}

/** A carrier header that may go out as it is: a safe name, and a safe value of the right format. */
function isSafeHeader(name: string, value: string): boolean {
  const rule = ruleFor(name);
  if (rule === false) return false;
  return rule === null ? isSafeHeaderValue(value) : value.length <= 8192 && rule.test(value);
}

/**
 * Headers that frame, route or authenticate the request. The hooks replace a
 * caller's header of the same name with the tracer's, so a tracer that wrote
 * one of these would change the request itself (an empty `content-length`
 * turns it into a 400): they are never taken from the carrier.
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
  'proxy-authorization',
  'authorization',
  'cookie',
]);
