import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  claimOf,
  debug,
  finishWithResponse,
  IGNORED,
  openServerSpan,
  runSuppressed,
  runWithSpan,
  setupTracing,
} from '@otinst/core/adapter';
import type { ResolvedOptions, ServerSpan } from '@otinst/core/adapter';
import type {
  FastifyError,
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import type { FastifyTracingOptions } from './types';

const PACKAGE = '@otinst/fastify';

/** The request's server span (declared with `decorateRequest`, so every request has the slot). */
const kServerSpan = Symbol('otinst.fastify.serverSpan');

type TracedRequest = FastifyRequest & { [kServerSpan]: ServerSpan | null };

/** Options that fastify's `register` itself reads; they are not ours to reject. */
const REGISTER_OPTIONS = new Set(['prefix', 'logLevel', 'logSerializers']);

function tracingOptions(options: FastifyTracingOptions | undefined): FastifyTracingOptions | undefined {
  if (options === null || typeof options !== 'object') return options;
  if (!Object.keys(options).some((key) => REGISTER_OPTIONS.has(key))) return options;
  const own: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!REGISTER_OPTIONS.has(key)) own[key] = value;
  return own as FastifyTracingOptions;
}

/**
 * The matched route template with every prefix (`/api/users/:id`); undefined
 * for the not-found handler. `request.routeOptions` came in fastify 4.10;
 * `routerPath` holds the same value before it (deprecated in 4.23 with a
 * warning on every read, gone in 5), so it is read only where `routeOptions`
 * has no `url` key at all.
 */
function routeOf(request: FastifyRequest): string | undefined {
  const routeOptions = (request as { routeOptions?: { url?: string } }).routeOptions;
  if (routeOptions !== undefined && 'url' in routeOptions) return routeOptions.url;
  return (request as { routerPath?: string }).routerPath;
}

/** `reply.getHeader` sees headers fastify keeps itself and those set on the raw response. */
function readReplyHeader(reply: unknown, name: string): unknown {
  return (reply as FastifyReply).getHeader(name);
}

function createStartHook(options: ResolvedOptions) {
  return function startServerSpanHook(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const earlier = claimOf(request.raw);
    if (earlier !== undefined) {
      // registered twice (an encapsulated child and the root): the first layer's span is the request's,
      // and this hook already runs inside its context
      if (earlier !== null) (request as TracedRequest)[kServerSpan] = earlier;
      done();
      return;
    }
    // core's guards: openServerSpan never throws (a failing tracer or hook gives null)
    const handle = openServerSpan(options, request.raw, request, routeOf(request));
    if (handle === IGNORED) {
      runSuppressed(done);
      return;
    }
    if (handle === null) {
      done();
      return;
    }
    (request as TracedRequest)[kServerSpan] = handle;
    // the Node response's `close` comes once, for completed, aborted and hijacked replies alike
    finishWithResponse(handle, reply.raw, { response: reply, readHeader: readReplyHeader });
    // `done` runs the rest of the lifecycle (hooks, body parsing, handler, error handler, onSend):
    // fastify calls each step from the previous one, and binds the body parser's stream callbacks
    // with AsyncResource, so all of it inherits this context.
    runWithSpan(handle.span, done);
  };
}

const kEarlyWatch = Symbol.for('otinst.fastify.earlyReplies');

/**
 * Requests fastify answers before any hook runs: a bad `%` sequence (400), a
 * parameter over `maxParamLength` (414, fastify 5), a failed async constraint,
 * and what a `frameworkErrors` handler sends for them. This `request` listener
 * comes after fastify's own on the same server, so for an ordinary request our
 * `onRequest` hook has already claimed it (fastify runs the first hooks
 * synchronously) and the listener only reads one property. An unclaimed
 * request that is already answered gets its span now, named by the method;
 * one still open (an async hook ahead of ours, an async `frameworkErrors`
 * handler) is checked once more when it closes.
 */
function createEarlyReplyListener(options: ResolvedOptions) {
  function traceUnclaimed(req: IncomingMessage, res: ServerResponse): void {
    const handle = openServerSpan(options, req, req);
    if (handle !== null && handle !== IGNORED) finishWithResponse(handle, res);
  }
  function onLateClose(this: ServerResponse): void {
    if (claimOf(this.req) === undefined) traceUnclaimed(this.req, this);
  }
  return function onServerRequest(req: IncomingMessage, res: ServerResponse): void {
    if (claimOf(req) !== undefined) return;
    if (res.writableEnded) traceUnclaimed(req, res);
    else res.once('close', onLateClose);
  };
}

/** Adds the early-reply listener once per Node server, whatever the number of registrations. */
function watchEarlyReplies(fastify: FastifyInstance, options: ResolvedOptions): void {
  const server = fastify.server as (typeof fastify.server & { [kEarlyWatch]?: true }) | undefined;
  // `serverFactory` may hand fastify no emitter of ours; never fail the registration for it
  if (server === undefined || server === null || typeof server.on !== 'function' || server[kEarlyWatch]) return;
  server[kEarlyWatch] = true;
  server.on('request', createEarlyReplyListener(options));
}

/**
 * Every error fastify reports; core decides from the status sent whether it
 * marks the span (an error answered with a 4xx, such as a validation error,
 * is the client's and marks nothing).
 */
function recordErrorHook(request: FastifyRequest, _reply: FastifyReply, error: FastifyError, done: () => void): void {
  const handle = (request as TracedRequest)[kServerSpan];
  if (handle !== null && handle !== undefined) handle.recordError(error);
  done();
}

function register(fastify: FastifyInstance, options: FastifyTracingOptions, done: (error?: Error) => void): void {
  let resolved: ResolvedOptions;
  try {
    resolved = setupTracing(PACKAGE, 'fastify', tracingOptions(options) as never);
  } catch (error) {
    done(error as Error);
    return;
  }
  if (fastify.hasRequestDecorator(kServerSpan)) {
    // registered again in this scope or an ancestor: a second set of hooks would mean a second span
    debug(`${PACKAGE}: already registered for this instance; the second registration does nothing`);
    done();
    return;
  }
  fastify.decorateRequest(kServerSpan, null);
  // only a registration on the root traces every request (fastify makes each encapsulated
  // context with Object.create): one inside a plugin must leave the other routes' requests alone
  if (Object.getPrototypeOf(fastify) === Object.prototype) watchEarlyReplies(fastify, resolved);
  fastify.addHook('onRequest', createStartHook(resolved));
  fastify.addHook('onError', recordErrorHook);
  done();
}

/**
 * The fastify plugin: one server span per request, named after the matched
 * route with every prefix (`GET /api/users/:id`), with the parent extracted
 * from the incoming headers and the span active (`getCurrentSpan()`) in every
 * later hook, the handler and the error handler. It is not encapsulated (as
 * if wrapped with `fastify-plugin`): registered on the root instance, it
 * traces every route, those of encapsulated and prefixed plugins included.
 * Also the default export.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { tracingPlugin } from '@otinst/fastify';
 *
 * const fastify = Fastify();
 * await fastify.register(tracingPlugin, { tracer, ignore: ['/health'] });
 * fastify.get('/users/:id', async (request) => ({ id: request.params.id })); // span "GET /users/:id"
 * ```
 */
export const tracingPlugin: FastifyPluginCallback<FastifyTracingOptions> = register;

// what fastify-plugin would set, without depending on it
Object.assign(tracingPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: PACKAGE,
  [Symbol.for('plugin-meta')]: { name: PACKAGE, fastify: '4.x || 5.x' },
});
