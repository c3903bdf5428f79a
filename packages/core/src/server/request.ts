import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { getConfig } from '../config';
import type { RequestWrapper } from '../types';
import { rememberLast } from '../memo';
import { isAbsoluteUrl, stripCredentials } from '../url';

/** The first configured header present, case-insensitive (`headers` has lower-case names). */
export function firstHeader(
  headers: Record<string, string | string[] | undefined>,
  names: readonly string[],
): string | undefined {
  for (const name of names) {
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    // an empty header is no match (as on the client side): the next configured name may carry the value
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** A reg-name or IPv4 (RFC 3986 without percent-escapes), or a bracketed IPv6 literal, then an optional port. */
const HOST_AND_PORT = /^(?:([A-Za-z0-9][A-Za-z0-9._~-]*)|\[([0-9A-Fa-f:.]+)\])(?::\d{1,5})?$/;
/** The last label of a name that WHATWG URL parsers read as an IPv4 number (`0`, `a.0`, `0x7f`). */
const NUMERIC_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)\.?$/i;

/**
 * True for a Host header that can stand in a URL as it is, for RFC 3986 and
 * for WHATWG URL parsers alike: a name ending in a number must be a dotted
 * IPv4 address (`http://0/` would be read as 0.0.0.0, `http://a.0/` not at all).
 * A server sees the same Host header request after request: the last verdict is kept.
 */
const isHostAndPort = rememberLast(function checkHostAndPort(host: string): boolean {
  if (host.length > 261) return false;
  const match = HOST_AND_PORT.exec(host);
  if (match === null) return false;
  const [, name, ipv6] = match;
  if (ipv6 !== undefined) return isIPv6(ipv6);
  return !NUMERIC_LABEL.test(name!) || isIPv4(name!);
});

function pathOf(url: string): string {
  let start = 0;
  // an absolute-form target (`GET http://host/path`, sent to proxies): the path starts after the authority
  const scheme = url.startsWith('/') || !isAbsoluteUrl(url) ? -1 : url.indexOf('://');
  if (scheme !== -1) {
    start = scheme + 3;
    while (start < url.length && url[start] !== '/' && url[start] !== '?') start++;
    if (url[start] !== '/') return '/';
  }
  const query = url.indexOf('?', start);
  return url.slice(start, query === -1 ? url.length : query);
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is reported as `1.2.3.4`. */
export function normaliseIp(ip: string | undefined): string | undefined {
  if (ip !== undefined && ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  return ip;
}

/**
 * A `RequestWrapper` over a Node `IncomingMessage`: getters over the native
 * request, no copies.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { NodeRequestWrapper, beforeRequest } from '@otinst/core';
 * createServer((req, res) => {
 *   const span = beforeRequest(NodeRequestWrapper.fromIncomingMessage(req));
 *   res.end('ok');
 *   span.finish();
 * });
 * ```
 */
export class NodeRequestWrapper implements RequestWrapper {
  readonly #req: IncomingMessage;
  readonly #url: string;

  private constructor(req: IncomingMessage) {
    this.#req = req;
    // express rewrites req.url inside mounted routers; originalUrl is what the client sent
    this.#url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  }

  static fromIncomingMessage(req: IncomingMessage): NodeRequestWrapper {
    return new NodeRequestWrapper(req);
  }

  get method(): string {
    return this.#req.method ?? 'GET';
  }

  get operation(): string {
    return this.method;
  }

  get headers(): Record<string, string | string[] | undefined> {
    return this.#req.headers;
  }

  get path(): string {
    return pathOf(this.#url);
  }

  /**
   * Scheme, then the Host header (HTTP/2: `:authority`; else the local address and port, the default
   * port omitted), then path and query (PEP 3333's reconstruction). A Host header that is not a well-formed `host[:port]`
   * (`admin.internal/admin?x=`, `a@b`) is not used: the local address is. An
   * absolute-form request target (proxies, any scheme case) is used as sent,
   * minus any credentials; the asterisk form (`OPTIONS *`) has no path.
   * Query values are redacted later, where the tag is set (`sanitiseUrl`).
   */
  get fullUrl(): string {
    const url = this.#url;
    if (url.charCodeAt(0) !== 0x2f && isAbsoluteUrl(url)) return stripCredentials(url);
    const secure = (this.#req.socket as TLSSocket | undefined)?.encrypted === true;
    const scheme = secure ? 'https' : 'http';
    // HTTP/2 carries the host in the `:authority` pseudo-header (RFC 9113 §8.3.1), and clients rarely send Host
    let host = this.#req.headers.host || (this.#req.headers[':authority'] as string | undefined);
    if (host === undefined || !isHostAndPort(host)) {
      const address = this.#req.socket?.localAddress ?? 'localhost';
      const port = this.#req.socket?.localPort;
      host = isIPv6(address) ? `[${address}]` : address;
      if (port !== undefined && port !== (secure ? 443 : 80)) host += `:${port}`;
    }
    // `OPTIONS *` names the server itself; any other origin-form target starts with `/`
    const target = url === '*' ? '' : url.charCodeAt(0) === 0x2f ? url : `/${url}`;
    return `${scheme}://${host}${target}`;
  }

  get remoteIp(): string | undefined {
    return normaliseIp(this.#req.socket?.remoteAddress);
  }

  get remotePort(): number | undefined {
    return this.#req.socket?.remotePort;
  }

  get serverPort(): number | undefined {
    return this.#req.socket?.localPort;
  }

  get callerName(): string | undefined {
    const names = getConfig().callerNameHeaders;
    return names.length === 0 ? undefined : firstHeader(this.#req.headers, names);
  }
}
