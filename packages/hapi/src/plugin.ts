import {
  debug,
  enterSpan,
  enterSuppressed,
  finishWithResponse,
  isIgnored,
  NodeRequestWrapper,
  runSuppressed,
  setupTracing,
  startServerSpan,
} from '@otinst/core';
import type { ResolvedOptions, ServerSpan } from '@otinst/core';
import type { Plugin, Request, ResponseToolkit, Server } from '@hapi/hapi';
import type { HapiTracingOptions } from './types';

const PACKAGE = '@otinst/hapi';
// read at run time (package.json is outside rootDir): dist/ and src/ both sit next to it
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version: VERSION } = require('../package.json') as { version: string };

const kServerSpan = Symbol('otinst.hapi.serverSpan');

type TracedRequest = Request & { [kServerSpan]?: ServerSpan | undefined };

interface BoomLike {
  isBoom: true;
  output: { statusCode: number };
  data?: unknown;
}

function isBoom(value: unknown): value is BoomLike {
  return typeof value === 'object' && value !== null && (value as BoomLike).isBoom === true;
}

/**
 * A Boom response with a 5xx status is this server's failure. hapi boomifies
 * a thrown Error in place, so the Boom is the original error; a Boom made
 * around another error keeps that error in `data`. A 4xx Boom
 * (`Boom.notFound()`, or the 499 hapi makes when the client went away) is not
 * recorded: it is the client's.
 */
function recordServerError(handle: ServerSpan, response: unknown): void {
  if (!isBoom(response) || response.output.statusCode < 500) return;
  handle.recordError(response.data instanceof Error ? response.data : response);
}

/** After transmission `request.response` holds its request, and hapi has set every header on the Node response. */
function readHapiHeader(response: unknown, name: string): unknown {
  return (response as { request?: Request } | null)?.request?.raw.res.getHeader(name);
}

function createStartExt(options: ResolvedOptions) {
  return function startServerSpanExt(request: Request, h: ResponseToolkit): symbol {
    let handle: ServerSpan | null = null;
    let ignored = false;
    try {
      const wrapper = NodeRequestWrapper.fromIncomingMessage(request.raw.req);
      ignored = isIgnored(options, wrapper.path, request);
      if (!ignored) handle = startServerSpan(options, wrapper, request);
      if (handle !== null) (request as TracedRequest)[kServerSpan] = handle;
    } catch (error) {
      debug(`${PACKAGE}: starting the server span failed`, error);
    }
    // hapi runs the rest of the lifecycle as a chain of awaits that starts right here (this is the
    // first onRequest extension), so entering the context now makes the span current in every
    // later extension, the handler and what they await. Entering null also clears a span left
    // behind by the previous request on the same keep-alive connection.
    if (ignored) enterSuppressed();
    else enterSpan(handle === null ? null : handle.span);
    return h.continue;
  };
}

function recordErrorExt(request: Request, h: ResponseToolkit): symbol {
  const handle = (request as TracedRequest)[kServerSpan];
  // before other onPreResponse extensions can turn the Boom into an error page
  if (handle !== undefined) recordServerError(handle, request.response);
  return h.continue;
}

/**
 * hapi emits `response` exactly once per request, after the response was
 * sent, failed, or the client left (then `info.responded` is 0); also for
 * injected requests, whose fake response never emits `close`.
 */
function finishServerSpan(request: Request): void {
  const handle = (request as TracedRequest)[kServerSpan];
  if (handle === undefined) return;
  const route = request.route;
  // hapi's not-found (and bad-request, CORS preflight) routes are "_special" `/{p*}`: no route matched
  if (route.method !== ('_special' as string)) handle.setRoute(route.path);
  const response: unknown = request.response;
  const res = request.raw.res;
  if (typeof response === 'symbol') {
    // h.abandon / h.close: the handler owns the Node response and may still be writing
    finishWithResponse(handle, res);
    return;
  }
  recordServerError(handle, response);
  handle.finish(res.headersSent ? res.statusCode : undefined, response, readHapiHeader, request.info.responded === 0);
}

function register(server: Server, options: HapiTracingOptions): void {
  const resolved = setupTracing(PACKAGE, 'hapi', options as never);
  // On Node < 24 an AsyncLocalStorage tracks promises only once it is enabled; a promise made
  // before that resumes in a context shared with every other untracked one, so the first
  // enterSpan would leak into, say, the caller of `await server.inject()`. Enable it now.
  runSuppressed(noop);
  // hapi awaits every extension, so one that runs before ours (even a synchronous one) would
  // leave the span out of the lifecycle's await chain, and an error page made before ours would
  // hide the Boom: run ahead of the plugins registered so far (later ones come after anyway).
  const first = { before: Object.keys(server.registrations).filter((name) => name !== PACKAGE) };
  server.ext('onRequest', createStartExt(resolved), first);
  server.ext('onPreResponse', recordErrorExt, first);
  server.events.on('response', finishServerSpan);
}

function noop(): void {}

/**
 * The hapi plugin: one server span per request, named after the matched route
 * with the plugin prefix (`GET /api/users/{id}`), with the parent extracted
 * from the incoming headers and the span active (`getCurrentSpan()`) in later
 * extensions, the handler and what they await. Boom errors set the status; a
 * 5xx or a thrown error marks the span as an error. Registering it again on
 * the same server does nothing (`once`). Also the default export.
 *
 * Its extensions run ahead of those of the plugins registered before it, but
 * not of extensions added with `server.ext` on the root server before it was
 * registered: register it first.
 *
 * @example
 * ```ts
 * import Hapi from '@hapi/hapi';
 * import { tracingPlugin } from '@otinst/hapi';
 *
 * const server = Hapi.server({ port: 3000 });
 * await server.register({ plugin: tracingPlugin, options: { tracer, ignore: ['/health'] } });
 * server.route({ method: 'GET', path: '/users/{id}', handler: (request) => ({ id: request.params.id }) });
 * await server.start(); // span "GET /users/{id}"
 * ```
 */
export const tracingPlugin: Plugin<HapiTracingOptions> = {
  name: PACKAGE,
  version: VERSION,
  once: true,
  register,
};
