import { wrapMethod } from '@otinst/core/adapter';
import type { ServerSpan } from '@otinst/core/adapter';
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
 * its app or router was created before or after the middleware. For untraced
 * requests, and those of the no-op tracer, only the mounts are followed.
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
 * The `next` a layer gets: records the error it is given on the request's
 * span (looked up when called: a mount entered before the middleware ran
 * passes on errors of the traced part too); for a mount, leaving it (falling
 * through) also leaves its template, as express restores `req.baseUrl`.
 */
function tracedNext(req: TracedRequest, base: string | undefined, mounted: boolean, next: Next): Next {
  return function otinstNext(error?: unknown) {
    if (mounted) req[kBase] = base;
    if (isError(error)) req[kServerSpan]?.recordError(error);
    return next(error);
  };
}

/** Before a layer runs: a route names the request, a mount adds its template. */
function enter(layer: ExpressLayer, req: TracedRequest, next: Next): Next {
  const base = req[kBase];
  // the layers inside a route (`layer.method`) add nothing
  if (layer.method !== undefined) return tracedNext(req, base, false, next);
  if (layer.route !== undefined) {
    req[kRoute] = joinRoute(base ?? '', layer.route.path);
    return tracedNext(req, base, false, next);
  }
  const own = mountTemplate(layer);
  if (own === '') return tracedNext(req, base, false, next);
  req[kBase] = (base ?? '') + own;
  return tracedNext(req, base, true, next);
}

/**
 * A request not traced (yet): only a mount's template is kept, for a
 * middleware registered inside a mounted router, which starts the span after
 * the mount was entered. Everything else calls straight through.
 */
function enterUntraced(layer: ExpressLayer, req: TracedRequest, next: Next): Next {
  if (layer.method !== undefined || layer.route !== undefined) return next;
  const own = mountTemplate(layer);
  if (own === '') return next;
  const base = req[kBase];
  req[kBase] = (base ?? '') + own;
  return tracedNext(req, base, true, next);
}

function wrapHandleRequest(original: HandleRequest): HandleRequest {
  return function otinstHandleRequest(this: ExpressLayer, req, res, next) {
    let traced: Next = next;
    try {
      traced = req[kServerSpan] === undefined ? enterUntraced(this, req, next) : enter(this, req, next);
    } catch {
      // a layer shape this version does not know: routing goes on unnamed
    }
    return original.call(this, req, res, traced);
  };
}

function wrapHandleError(original: HandleError): HandleError {
  return function otinstHandleError(this: ExpressLayer, error, req, res, next) {
    const handle = req[kServerSpan];
    // also errors that no handler passed on: a param callback's, a path the router could not decode
    if (handle !== undefined && isError(error)) handle.recordError(error);
    let traced: Next = next;
    try {
      traced = handle === undefined ? enterUntraced(this, req, next) : enter(this, req, next);
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

/** Routers nest a few levels; a cycle (a router mounted inside itself) must not hang the request. */
const MAX_DEPTH = 32;

/** The part of `path` that a mount layer matches, or undefined. */
function matchedPrefix(layer: ExpressLayer, path: string): string | undefined {
  const regexp = layer.regexp;
  if (regexp instanceof RegExp) {
    if (regexp.fast_slash === true) return '';
    return new RegExp(regexp.source, regexp.flags.replace(/[gy]/g, '')).exec(path)?.[0];
  }
  const match = (layer as { match?(path: string): { path: string } | boolean }).match?.(path);
  if (match === undefined || match === false) return undefined;
  return match === true ? (layer.path ?? '') : match.path;
}

function findBase(
  router: { stack: readonly object[] },
  path: string,
  self: unknown,
  depth: number,
): string | undefined {
  for (const layer of router.stack as ExpressLayer[]) {
    if (layer.handle === self) return '';
    const handle: unknown = layer.handle;
    if (layer.route !== undefined || typeof handle !== 'function') continue;
    if (!Array.isArray((handle as { stack?: unknown }).stack)) continue;
    if (depth >= MAX_DEPTH) continue;
    const prefix = matchedPrefix(layer, path);
    if (prefix === undefined || prefix === '') continue;
    const rest = path.slice(prefix.length);
    const inner = findBase(
      handle as unknown as { stack: object[] },
      rest.startsWith('/') ? rest : `/${rest}`,
      self,
      depth + 1,
    );
    if (inner !== undefined) return mountTemplate(layer) + inner;
  }
  return undefined;
}

/**
 * For a middleware registered inside a mounted router (`req.baseUrl` set)
 * on a request whose mounts were not followed (the first traced request,
 * before the `Layer` methods were wrapped): the mount templates above the
 * middleware, found by walking the app's routers down the request path.
 */
export function seedBase(
  req: TracedRequest & { baseUrl?: string; originalUrl?: string; url?: string },
  router: { stack: readonly object[] },
  self: unknown,
): void {
  if (req[kBase] !== undefined || !req.baseUrl) return;
  const url = req.originalUrl ?? req.url ?? '';
  const query = url.indexOf('?');
  const base = findBase(router, query === -1 ? url : url.slice(0, query), self, 0);
  if (base !== undefined && base !== '') req[kBase] = base;
}
