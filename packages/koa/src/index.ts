/**
 * @otinst/koa: one OpenTracing server span per koa request, for koa 2 and 3.
 */
import {
  finishWithResponse,
  isIgnored,
  NodeRequestWrapper,
  runSuppressed,
  runWithSpan,
  setupTracing,
  startServerSpan,
} from '@otinst/core';
import type { ServerSpan } from '@otinst/core';
import type { Context, Middleware, Next } from 'koa';
import type { ServerResponse } from 'node:http';
import type { Tracer } from 'opentracing';
import type { KoaTracingOptions } from './types';

export type { KoaTracingOptions } from './types';

const kServerSpan = Symbol('otinst.koa.serverSpan');
const kContext = Symbol('otinst.koa.context');
const kOnerror = Symbol('otinst.koa.onerror');

type TracedContext = Context & { [kServerSpan]?: ServerSpan; [kOnerror]?: Context['onerror'] };
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
function routeOf(ctx: Context & RouterContext): string | undefined {
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
  return ctx === undefined ? undefined : routeOf(ctx);
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

/**
 * The koa middleware: register it first, with `app.use()`. Each request gets
 * one server span, child of the context in the incoming headers, active
 * (`getCurrentSpan()`) in every later middleware and route and everything
 * they await. The span is named `<METHOD> <route>` from @koa/router's
 * matched template, prefixes included (`GET /api/users/:id`), or `<METHOD>`
 * when no route matched, and finished once, when the response ends or the
 * client goes away. A thrown error is recorded once and rethrown unchanged.
 *
 * @param tracer the OpenTracing tracer; `opentracing.globalTracer()`, looked up per request, when absent
 * @param options see `KoaTracingOptions`; a bad option throws a `TypeError` here, never per request
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import Router from '@koa/router';
 * import { tracingMiddleware } from '@otinst/koa';
 *
 * const app = new Koa();
 * app.use(tracingMiddleware(tracer, { ignore: ['/health'] }));
 * const router = new Router();
 * router.get('/users/:id', (ctx) => (ctx.body = { id: ctx.params.id }));
 * app.use(router.routes());
 * ```
 */
export function tracingMiddleware(tracer?: Tracer, options?: KoaTracingOptions): Middleware {
  const resolved = setupTracing('@otinst/koa', 'koa', options, tracer);
  return async function otinstKoaMiddleware(ctx: TracedContext, next: Next): Promise<unknown> {
    const wrapper = NodeRequestWrapper.fromIncomingMessage(ctx.req);
    if (isIgnored(resolved, wrapper.path, ctx)) return runSuppressed(next);
    const handle = startServerSpan(resolved, wrapper, ctx);
    if (handle === null) return next();
    ctx[kServerSpan] = handle;
    ctx[kOnerror] = ctx.onerror;
    ctx.onerror = recordingOnerror;
    const res = ctx.res as TracedResponse;
    res[kContext] = ctx;
    finishWithResponse(handle, res, { response: ctx, readHeader: readResponseHeader, resolveRoute });
    try {
      return await runWithSpan(handle.span, next);
    } catch (error) {
      handle.recordError(error);
      throw error;
    }
  };
}

export default tracingMiddleware;
