/**
 * @otinst/koa: one OpenTracing server span per koa request, for koa 2 and 3.
 */
import {
  claimOf,
  debug,
  finishWithResponse,
  IGNORED,
  openServerSpan,
  runSuppressed,
  runWithSpan,
  setupTracing,
  warnOnce,
} from '@otinst/core/adapter';
import type { ServerSpan } from '@otinst/core/adapter';
import type { Context, Middleware, Next } from 'koa';
import type { ServerResponse } from 'node:http';
import type { Tracer } from 'opentracing';
import type { KoaTracingOptions } from './types';

export type { KoaTracingOptions } from './types';

const PACKAGE = '@otinst/koa';
const kServerSpan = Symbol('otinst.koa.serverSpan');
const kContext = Symbol('otinst.koa.context');
const kOnerror = Symbol('otinst.koa.onerror');
/** The route a mounted sub-app's own middleware found, with the mount prefix. */
const kMountedRoute = Symbol('otinst.koa.mountedRoute');

type TracedContext = Context &
  RouterContext & {
    [kServerSpan]?: ServerSpan;
    [kOnerror]?: Context['onerror'];
    [kMountedRoute]?: string;
  };
type TracedResponse = ServerResponse & { [kContext]?: TracedContext };

/** What @koa/router (and koa-router) leave on `ctx`: the template of the layer that ran last, and every layer whose path matched. */
interface RouterContext {
  _matchedRoute?: unknown;
  matched?: readonly { path: unknown; methods: readonly string[] }[];
}

/**
 * The route template @koa/router matched, prefixes included
 * (`/api/orgs/:orgId/users/:id`). When a router middleware (`router.use`)
 * answered before the route ran, `_matchedRoute` holds that middleware's
 * pattern (`/api/orgs/:orgId{/*rest}`): the route that matched path and
 * method names the request instead.
 */
function routeOf(ctx: TracedContext): string | undefined {
  const matched = ctx._matchedRoute;
  if (matched === undefined || matched === null) return undefined;
  const layers = ctx.matched;
  if (Array.isArray(layers) && layers.some((layer) => layer.path === matched && layer.methods.length === 0)) {
    const route = layers.find((layer) => layer.methods.includes(ctx.method));
    if (route !== undefined) return String(route.path);
  }
  return String(matched);
}

/** The route template, found when the response is over. */
function resolveRoute(res: ServerResponse): string | undefined {
  const ctx = (res as TracedResponse)[kContext];
  return ctx === undefined ? undefined : (ctx[kMountedRoute] ?? routeOf(ctx));
}

const readResponseHeader = (ctx: unknown, name: string): unknown => (ctx as Context).res.getHeader(name);

/**
 * `ctx.onerror` is where koa reports every error it sees, also those that
 * reach it after the middleware returned (a response body stream that
 * breaks): record it on the span, then let the handler that was there answer.
 */
function recordingOnerror(this: TracedContext, error: unknown): void {
  if (error !== undefined && error !== null) this[kServerSpan]?.recordError(error);
  this[kOnerror]!.call(this, error as Error);
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * The part of the request path that mounts took off `ctx.path` (koa-mount
 * and the like run the sub-app on the same `ctx` with a shorter path): `''`
 * when not mounted.
 */
function mountPrefix(ctx: Context): string {
  const original = pathOf(ctx.originalUrl);
  const path = ctx.path;
  if (original === path) return '';
  if (original.endsWith(path)) return original.slice(0, original.length - path.length);
  // koa-mount gives '/' to the sub-app for the prefix itself (`/admin`)
  return path === '/' ? original : '';
}

/**
 * A later otinst layer (the middleware registered twice, or a mounted
 * sub-app's own middleware) on a request an earlier one claimed: it hands
 * control on in the same context. Under a mount it knows what the outer layer
 * cannot, the prefix of the sub-app's routes, and names the span with it.
 */
function stepAside(ctx: TracedContext, next: Next, claimed: ServerSpan | null): Promise<unknown> {
  if (claimed === null) return next();
  const prefix = mountPrefix(ctx);
  if (prefix === '') return next();
  const before = ctx._matchedRoute;
  const note = (): void => {
    // the innermost mount notes first, with the longest prefix
    if (ctx._matchedRoute === before || ctx[kMountedRoute] !== undefined) return;
    const route = routeOf(ctx);
    if (route !== undefined) ctx[kMountedRoute] = route === '/' ? prefix : prefix + route;
  };
  return next().then(
    (value) => {
      note();
      return value;
    },
    (error: unknown) => {
      note();
      throw error;
    },
  );
}

/** A koa context: what koa passes when the factory itself is registered (`app.use(tracingMiddleware)`). */
function isKoaContext(value: unknown): value is Context {
  return (
    typeof value === 'object' &&
    value !== null &&
    'req' in value &&
    'res' in value &&
    'app' in value &&
    typeof (value as Context).throw === 'function'
  );
}

/** The @koa/router dispatch function carries its router. */
const isRouterMiddleware = (fn: unknown): boolean =>
  typeof fn === 'function' && (fn as { router?: unknown }).router !== undefined;

/**
 * A router registered before the tracing middleware answers its routes
 * without it: those requests are never traced. Looked at once, on the first
 * request the middleware sees.
 */
function checkOrder(self: Middleware, ctx: Context): void {
  const stack = (ctx.app as { middleware?: unknown }).middleware;
  if (!Array.isArray(stack)) return;
  const index = stack.indexOf(self);
  if (index > 0 && stack.slice(0, index).some(isRouterMiddleware)) {
    warnOnce(
      'OTINST_MIDDLEWARE_AFTER_ROUTES',
      `${PACKAGE}: tracingMiddleware() is registered after router.routes(), so the requests the router answers ` +
        'are not traced; register it first: app.use(tracingMiddleware(tracer)) before app.use(router.routes())',
    );
  }
}

/** The middleware `app.use(tracingMiddleware)` stands for: created on first use, with the defaults. */
let registeredUncalled: Middleware | undefined;

/**
 * The koa middleware: register it first, with `app.use()`. Each request gets
 * one server span, child of the context in the incoming headers, active
 * (`getCurrentSpan()`) in every later middleware and route and everything
 * they await. The span is named `<METHOD> <route>` from @koa/router's
 * matched template, prefixes included (`GET /api/users/:id`, with the mount
 * prefix of a sub-app that has its own middleware), or `<METHOD>` when no
 * route matched, and finished once, when the response ends or the client
 * goes away. A thrown error is recorded once and rethrown unchanged.
 *
 * The middleware reached twice by one request (registered twice, or also in
 * a mounted sub-app) makes one span: the first claims the request, the later
 * ones hand control on.
 *
 * @param tracerOrOptions the OpenTracing tracer (`opentracing.globalTracer()`, looked up per request,
 *   when absent), or the options object with its `tracer` option
 * @param options see `KoaTracingOptions`; a bad option throws a `TypeError` here, never per request
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import Router from '@koa/router';
 * import { tracingMiddleware } from '@otinst/koa';
 *
 * const app = new Koa();
 * app.use(tracingMiddleware({ tracer, ignore: ['/health'] }));
 * const router = new Router();
 * router.get('/users/:id', (ctx) => (ctx.body = { id: ctx.params.id }));
 * app.use(router.routes());
 * ```
 */
export function tracingMiddleware(options?: KoaTracingOptions): Middleware;
export function tracingMiddleware(tracer?: Tracer | null, options?: KoaTracingOptions): Middleware;
export function tracingMiddleware(tracerOrOptions?: unknown, options?: unknown): Middleware | Promise<unknown> {
  if (isKoaContext(tracerOrOptions) && typeof options === 'function') {
    // `app.use(tracingMiddleware)`: koa called the factory as the middleware. Work as `tracingMiddleware()`.
    warnOnce(
      'OTINST_MIDDLEWARE_NOT_CALLED',
      `${PACKAGE}: app.use(tracingMiddleware) registers the factory, not the middleware; ` +
        'call it: app.use(tracingMiddleware(tracer))',
    );
    registeredUncalled ??= tracingMiddleware();
    return registeredUncalled(tracerOrOptions, options as Next);
  }
  const resolved = setupTracing(PACKAGE, 'koa', tracerOrOptions as Tracer, options as KoaTracingOptions);
  let checked = false;
  const middleware = function otinstKoaMiddleware(ctx: TracedContext, next: Next): Promise<unknown> {
    const req = ctx.req;
    const claimed = claimOf(req);
    if (claimed !== undefined) return stepAside(ctx, next, claimed);
    const handle = openServerSpan(resolved, req, ctx);
    if (handle === IGNORED) return runSuppressed(next);
    // the same guard in every adapter: what the adapter adds to the span's start never throws into the app
    try {
      if (!checked) {
        checked = true;
        checkOrder(middleware, ctx);
      }
      if (handle !== null && !handle.trivial) {
        ctx[kServerSpan] = handle;
        ctx[kOnerror] = ctx.onerror;
        ctx.onerror = recordingOnerror;
        const res = ctx.res as TracedResponse;
        res[kContext] = ctx;
        finishWithResponse(handle, res, { response: ctx, readHeader: readResponseHeader, resolveRoute });
      }
    } catch (error) {
      debug(`${PACKAGE}: starting the server span failed`, error);
    }
    if (handle === null) return next();
    // nothing to record (the no-op tracer): only make the span current
    if (handle.trivial) return runWithSpan(handle.span, next);
    const traced = handle;
    return runWithSpan(handle.span, next).then(undefined, (error: unknown) => {
      traced.recordError(error);
      throw error;
    });
  };
  return middleware;
}

export default tracingMiddleware;
