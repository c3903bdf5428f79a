/**
 * @otinst/express: one OpenTracing server span per express request, for
 * express 4 and 5.
 */
import {
  bindEmitter,
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
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { Http2ServerRequest } from 'node:http2';
import type { Tracer } from 'opentracing';
import { kRoute, kServerSpan, seedBase, traceLayers, type TracedRequest } from './layer';
import type { ExpressTracingOptions } from './types';

export type { ExpressTracingOptions } from './types';

const PACKAGE = '@otinst/express';

type ExpressRequest = Request & TracedRequest;

/** The route template that express dispatched the request to, found when the response is over. */
function resolveRoute(res: ServerResponse): string | undefined {
  return ((res as Response).req as ExpressRequest | undefined)?.[kRoute];
}

/** The router of an express 4 (`_router`) or express 5 (`router`) app, if it has one. */
function appRouter(app: unknown): { stack: object[] } | undefined {
  const candidate = app as { _router?: unknown; router?: unknown } | undefined;
  try {
    // `_router` first: express 4's `router` getter throws
    const router: unknown = candidate?._router ?? candidate?.router;
    return typeof router === 'function' && Array.isArray((router as { stack?: unknown }).stack)
      ? (router as unknown as { stack: object[] })
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Routes registered before the middleware answer their requests without it:
 * those are never traced. Looked at once, on the first request the
 * middleware sees.
 */
function checkOrder(self: RequestHandler, router: { stack: object[] }): void {
  const stack = router.stack as { route?: unknown; handle?: unknown }[];
  const index = stack.findIndex((layer) => layer.handle === self);
  if (index > 0 && stack.slice(0, index).some((layer) => layer.route !== undefined)) {
    warnOnce(
      'OTINST_MIDDLEWARE_AFTER_ROUTES',
      `${PACKAGE}: tracingMiddleware() is registered after routes, so the requests they answer are not traced; ` +
        'register it first: app.use(tracingMiddleware(tracer)) before any app.get()/app.use(router)',
    );
  }
}

/** The middleware `app.use(tracingMiddleware)` stands for: created on first use, with the defaults. */
let registeredUncalled: RequestHandler | undefined;

/**
 * A request body arrives through stream events, which run in the context of
 * whoever emits them (the socket), not of the request: a body reader that
 * calls `next()` from its `end` listener (multipart parsers, hand-written
 * readers; body-parser binds its own callback) would lose the span. The
 * request's listeners are bound to its context; requests without a body skip
 * the cost.
 */
function hasBody(req: Request): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/**
 * The express middleware: register it first, with `app.use()`. Each request
 * gets one server span, child of the context in the incoming headers, active
 * (`getCurrentSpan()`) in every later middleware, route handler and error
 * handler and everything they await. The span is named `<METHOD> <route>`
 * with every router and sub-app mount prefix (`GET /orgs/:orgId/users/:id`),
 * as express routed the request, or `<METHOD>` when no route matched, and
 * finished once, when the response ends or the client goes away.
 *
 * The middleware reached twice by one request (registered twice, or also in
 * a sub-app) makes one span: the first claims the request, the later ones
 * hand control on.
 *
 * @param tracerOrOptions the OpenTracing tracer (`opentracing.globalTracer()`, looked up per request,
 *   when absent), or the options object with its `tracer` option
 * @param options see `ExpressTracingOptions`; a bad option throws a `TypeError` here, never per request
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { tracingMiddleware } from '@otinst/express';
 *
 * const app = express();
 * app.use(tracingMiddleware({ tracer, ignore: ['/health'] }));
 * app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
 * ```
 */
export function tracingMiddleware(options?: ExpressTracingOptions): RequestHandler;
export function tracingMiddleware(tracer?: Tracer | null, options?: ExpressTracingOptions): RequestHandler;
export function tracingMiddleware(tracerOrOptions?: unknown, options?: unknown, next?: unknown): RequestHandler | void {
  if (
    (tracerOrOptions instanceof IncomingMessage || tracerOrOptions instanceof Http2ServerRequest) &&
    typeof next === 'function'
  ) {
    // `app.use(tracingMiddleware)`: express called the factory as the middleware. Work as `tracingMiddleware()`.
    warnOnce(
      'OTINST_MIDDLEWARE_NOT_CALLED',
      `${PACKAGE}: app.use(tracingMiddleware) registers the factory, not the middleware; ` +
        'call it: app.use(tracingMiddleware(tracer))',
    );
    registeredUncalled ??= tracingMiddleware();
    registeredUncalled(tracerOrOptions as Request, options as Response, next as NextFunction);
    return;
  }
  const resolved = setupTracing(PACKAGE, 'express', tracerOrOptions as Tracer, options as ExpressTracingOptions);
  let checked = false;
  const middleware = function otinstExpressMiddleware(req: ExpressRequest, res: Response, next: NextFunction): void {
    // a second otinst layer on this request (registered twice, a sub-app's own): the first one traces it
    if (claimOf(req) !== undefined) {
      next();
      return;
    }
    const handle = openServerSpan(resolved, req, req);
    if (handle === IGNORED) {
      runSuppressed(next);
      return;
    }
    // the same guard in every adapter: what the adapter adds to the span's start never throws into the app
    try {
      if (!checked) {
        const router = appRouter(req.app);
        if (router !== undefined) {
          checked = true;
          checkOrder(middleware, router);
        }
      }
      if (handle !== null && !handle.trivial) {
        const router = appRouter(req.app);
        if (router !== undefined) {
          traceLayers(router);
          seedBase(req, router, middleware);
        }
        req[kServerSpan] = handle;
        finishWithResponse(handle, res, { resolveRoute });
      }
      if (hasBody(req)) bindEmitter(req);
    } catch (error) {
      debug(`${PACKAGE}: starting the server span failed`, error);
    }
    if (handle === null) next();
    else runWithSpan(handle.span, next);
  };
  return middleware;
}

export default tracingMiddleware;
