/**
 * @otinst/express: one OpenTracing server span per express request, for
 * express 4 and 5.
 */
import {
  bindEmitter,
  finishWithResponse,
  isIgnored,
  NodeRequestWrapper,
  runSuppressed,
  runWithSpan,
  setupTracing,
  startServerSpan,
} from '@otinst/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ServerResponse } from 'node:http';
import type { Tracer } from 'opentracing';
import { captureLayerErrors, kServerSpan, type TracedRequest } from './errors';
import { appRouter, routeTemplate } from './route';
import type { ExpressTracingOptions } from './types';

export type { ExpressTracingOptions } from './types';

const kRouter = Symbol('otinst.express.router');

type ExpressRequest = Request & TracedRequest & { [kRouter]?: ReturnType<typeof appRouter> };

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * The route template, found when the response is over: `req.route` then
 * still holds the route that matched, also after an error handler or the
 * final handler answered.
 */
function resolveRoute(res: ServerResponse): string | undefined {
  const req = (res as Response).req as ExpressRequest;
  const router = req[kRouter];
  const route: unknown = req.route;
  if (router === undefined || typeof route !== 'object' || route === null) return undefined;
  return routeTemplate(router, pathOf(req.originalUrl ?? req.url), route);
}

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
 * with every router mount prefix (`GET /orgs/:orgId/users/:id`), or
 * `<METHOD>` when no route matched, and finished once, when the response
 * ends or the client goes away.
 *
 * @param tracer the OpenTracing tracer; `opentracing.globalTracer()`, looked up per request, when absent
 * @param options see `ExpressTracingOptions`; a bad option throws a `TypeError` here, never per request
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { tracingMiddleware } from '@otinst/express';
 *
 * const app = express();
 * app.use(tracingMiddleware(tracer, { ignore: ['/health'] }));
 * app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
 * ```
 */
export function tracingMiddleware(tracer?: Tracer, options?: ExpressTracingOptions): RequestHandler {
  const resolved = setupTracing('@otinst/express', 'express', options, tracer);
  return function otinstExpressMiddleware(req: ExpressRequest, res: Response, next: NextFunction): void {
    const wrapper = NodeRequestWrapper.fromIncomingMessage(req);
    if (isIgnored(resolved, wrapper.path, req)) {
      runSuppressed(next);
      return;
    }
    const handle = startServerSpan(resolved, wrapper, req);
    if (handle === null) {
      next();
      return;
    }
    const router = appRouter(req.app);
    if (router !== undefined) captureLayerErrors(router);
    req[kServerSpan] = handle;
    req[kRouter] = router;
    if (hasBody(req)) bindEmitter(req);
    finishWithResponse(handle, res, { resolveRoute });
    runWithSpan(handle.span, next);
  };
}

export default tracingMiddleware;
