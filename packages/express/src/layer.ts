import { wrapMethod } from '@otinst/core';
import type { ServerSpan } from '@otinst/core';
import { joinRoute, mountTemplate, type ExpressLayer } from './route';

/**
 * What express tells only the layers it calls: the errors handlers throw,
 * reject with (express 5) or pass to `next(err)`, and the route templates of
 * the mounts and the route a request goes through.
 *
 * express hands errors from layer to layer through its own `next` closures
 * and, when no error handler answers, to its final handler: none of that
 * passes through a middleware registered before the routes. What every
 * handler call does go through is the router's `Layer` prototype
 * (`handle_request`/`handle_error` in express 4, `handleRequest`/`handleError`
 * in router 2). Wrapping the prototype (through core's `wrapMethod`, so
 * `uninstallPatches()` puts the originals back) reaches every layer, whether
 * its app or router was created before or after the middleware. Untraced
 * requests, and those of the no-op tracer, call straight through.
 */

/** The server span of a traced request, on express's `req`. */
export const kServerSpan = Symbol('otinst.express.serverSpan');
/** The template of the mounts the request is in now (`/orgs/:orgId`), like express's `req.baseUrl`. */
const kBase = Symbol('otinst.express.base');
/** The full template of the last route layer that ran. */
export const kRoute = Symbol('otinst.express.route');

export interface TracedRequest {
  [kServerSpan]?: ServerSpan | undefined;
  [kBase]?: string | undefined;
  [kRoute]?: string | undefined;
}

type Next = (error?: unknown) => unknown;
type HandleRequest = (this: ExpressLayer, req: TracedRequest, res: unknown, next: Next) => unknown;
type HandleError = (this: ExpressLayer, error: unknown, req: TracedRequest, res: unknown, next: Next) => unknown;

/** `'route'` and `'router'` are routing signals, not errors. */
function isError(error: unknown): boolean {
  return Boolean(error) && error !== 'route' && error !== 'router';
}

/**
 * The `next` a layer of a traced request gets: records the error it is given;
 * for a mount, leaving it (falling through) also leaves its template, as
 * express restores `req.baseUrl`.
 */
function tracedNext(
  handle: ServerSpan,
  req: TracedRequest,
  base: string | undefined,
  mounted: boolean,
  next: Next,
): Next {
  return function otinstNext(error?: unknown) {
    if (mounted) req[kBase] = base;
    if (isError(error)) handle.recordError(error);
    return next(error);
  };
}

/** Before a layer runs: a route names the request, a mount adds its template. */
function enter(layer: ExpressLayer, req: TracedRequest, handle: ServerSpan, next: Next): Next {
  const base = req[kBase];
  // the layers inside a route (`layer.method`) add nothing
  if (layer.method !== undefined) return tracedNext(handle, req, base, false, next);
  if (layer.route !== undefined) {
    req[kRoute] = joinRoute(base ?? '', layer.route.path);
    return tracedNext(handle, req, base, false, next);
  }
  const own = mountTemplate(layer);
  if (own === '') return tracedNext(handle, req, base, false, next);
  req[kBase] = (base ?? '') + own;
  return tracedNext(handle, req, base, true, next);
}

function wrapHandleRequest(original: HandleRequest): HandleRequest {
  return function otinstHandleRequest(this: ExpressLayer, req, res, next) {
    const handle = req[kServerSpan];
    if (handle === undefined) return original.call(this, req, res, next);
    let traced: Next = next;
    try {
      traced = enter(this, req, handle, next);
    } catch {
      // a layer shape this version does not know: routing goes on unnamed
    }
    return original.call(this, req, res, traced);
  };
}

function wrapHandleError(original: HandleError): HandleError {
  return function otinstHandleError(this: ExpressLayer, error, req, res, next) {
    const handle = req[kServerSpan];
    if (handle === undefined) return original.call(this, error, req, res, next);
    // also errors that no handler passed on: a param callback's, a path the router could not decode
    if (isError(error)) handle.recordError(error);
    let traced: Next = next;
    try {
      traced = enter(this, req, handle, next);
    } catch {
      // as above
    }
    return original.call(this, error, req, res, traced);
  };
}

type LayerPrototype = Record<string, unknown>;

/**
 * Wraps the `Layer` prototype of the express copy that `router` belongs to
 * (several copies of express in one process each get theirs). Cheap to call
 * per request: a wrapped prototype is left alone.
 */
export function traceLayers(router: { stack: readonly object[] }): void {
  const layer = router.stack[0];
  if (layer === undefined) return;
  const proto = Object.getPrototypeOf(layer) as LayerPrototype | null;
  if (proto === null || proto === Object.prototype) return;
  for (const name of ['handle_request', 'handleRequest']) {
    if (typeof proto[name] === 'function') {
      wrapMethod(proto, name, (original) => wrapHandleRequest(original as unknown as HandleRequest) as never);
    }
  }
  for (const name of ['handle_error', 'handleError']) {
    if (typeof proto[name] === 'function') {
      wrapMethod(proto, name, (original) => wrapHandleError(original as unknown as HandleError) as never);
    }
  }
}
