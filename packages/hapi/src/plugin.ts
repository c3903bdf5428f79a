import {
  claimOf,
  enterSpan,
  enterSuppressed,
  finishFromResponse,
  finishWithResponse,
  IGNORED,
  openServerSpan,
  runSuppressed,
  setupTracing,
} from '@otinst/core/adapter';
import type { ResolvedOptions, ServerSpan } from '@otinst/core/adapter';
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
    const req = request.raw.req;
    // another otinst layer (a second copy of this plugin) already decided for this request
    if (claimOf(req) !== undefined) return h.continue;
    // core's guards: openServerSpan never throws (a failing tracer or hook gives null).
    // The span starts named by the method and gets the route at the finish: looking the route up
    // here (`server.match`) cost 4,400 instructions per request, a rename in jaeger-client about 80
    const handle = openServerSpan(options, req, request);
    if (handle === IGNORED) {
      enterSuppressed();
      return h.continue;
    }
    // a trivial span (the no-op tracer, no onFinish) has nothing to finish: no state kept for it
    if (handle !== null && !handle.trivial) (request as TracedRequest)[kServerSpan] = handle;
    // hapi runs the rest of the lifecycle as a chain of awaits that starts right here (this is the
    // first onRequest extension), so entering the context now makes the span current in every
    // later extension, the handler and what they await. `leaveRequestContext` takes it off the
    // connection again once hapi's synchronous dispatch returns.
    enterSpan(handle === null ? null : handle.span);
    return h.continue;
  };
}

/**
 * On Node versions whose AsyncLocalStorage runs on async_hooks (22, and any
 * run with `--no-async-context-frame`), `enterWith` inside hapi's synchronous
 * dispatch writes the store onto the connection's own async resource: the
 * finished span of the last request then stayed current in `clientError`, in
 * early `request` listeners of the next request on that keep-alive
 * connection, and reachable while the connection sat idle. This listener
 * comes after hapi's dispatch in the same `request` event and empties the
 * store again; the lifecycle's promises already carry the span. With async
 * context frames (Node 24 and later by default) the frame ends with the event
 * and the listener is not added.
 */
function leaveRequestContext(): void {
  enterSpan(null);
}

function usesContextFrames(): boolean {
  const major = Number(process.versions.node.split('.')[0]);
  const flags = `${process.execArgv.join(' ')} ${process.env['NODE_OPTIONS'] ?? ''}`;
  if (flags.includes('--no-async-context-frame')) return false;
  return major >= 24 || flags.includes('--experimental-async-context-frame');
}

/**
 * hapi logs the Boom a handler answered with (tags `handler`, `error`), and a
 * 500 that the lifecycle ended with (channel `error`), before `onPreResponse`
 * extensions can turn it into an error page. Listening to those log events
 * costs nothing on a request without an error, where an `onPreResponse`
 * extension costs every request an extra await in hapi's lifecycle.
 */
function recordLoggedError(request: Request, event: { error?: unknown }): void {
  const handle = (request as TracedRequest)[kServerSpan];
  if (handle !== undefined && event.error !== undefined) recordServerError(handle, event.error);
}

const HANDLER_ERRORS = { name: 'request', channels: 'internal', filter: { tags: ['handler', 'error'], all: true } };
const LIFECYCLE_ERRORS = { name: 'request', channels: 'error' };

/**
 * hapi emits `response` exactly once per request, after the response was
 * sent, failed, or the client left; also for injected requests, whose fake
 * response never emits `close`. Core reads status and `http.aborted` from the
 * Node response, as for every adapter.
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
  // hapi saw the transmission fail (`responded` 0): on Node 22 a response ended after its socket
  // died still reports writableFinished, so core is told what hapi saw
  finishFromResponse(handle, res, response, readHapiHeader, request.info.responded === 0);
}

function register(server: Server, options: HapiTracingOptions): void {
  const resolved = setupTracing(PACKAGE, 'hapi', options as never);
  // On Node < 24 an AsyncLocalStorage tracks promises only once it is enabled; a promise made
  // before that resumes in a context shared with every other untracked one, so the first
  // enterSpan would leak into, say, the caller of `await server.inject()`. Enable it now.
  runSuppressed(noop);
  // hapi awaits every extension, so one that runs before ours (even a synchronous one) would
  // leave the span out of the lifecycle's await chain: run ahead of the plugins registered so
  // far (later ones come after anyway).
  const first = { before: Object.keys(server.registrations).filter((name) => name !== PACKAGE) };
  server.ext('onRequest', createStartExt(resolved), first);
  server.events.on(HANDLER_ERRORS as never, recordLoggedError as never);
  server.events.on(LIFECYCLE_ERRORS as never, recordLoggedError as never);
  server.events.on('response', finishServerSpan);
  if (!usesContextFrames()) server.listener.on('request', leaveRequestContext);
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
