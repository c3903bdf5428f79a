import type { ServerSpan } from '@otinst/core';

/**
 * Recording the errors of a request that handlers throw, reject with (express
 * 5) or pass to `next(err)`.
 *
 * express hands those errors from layer to layer through its own `next`
 * closures and, when no error handler answers, to its final handler: none of
 * that passes through a middleware registered before the routes. What every
 * handler call does go through is the router's `Layer` prototype
 * (`handle_request`/`handle_error` in express 4, `handleRequest`/`handleError`
 * in router 2). Patching the prototype reaches every layer, whether its app
 * or router was created before or after the middleware: for a traced request
 * the `next` a handler receives records the error it is given, then goes on
 * exactly as before. Untraced requests call straight through.
 */

/** The server span of a traced request, on express's `req`. */
export const kServerSpan = Symbol('otinst.express.serverSpan');

export interface TracedRequest {
  [kServerSpan]?: ServerSpan | undefined;
}

type Next = (error?: unknown) => unknown;
type HandleRequest = (this: unknown, req: TracedRequest, res: unknown, next: Next) => unknown;
type HandleError = (this: unknown, error: unknown, req: TracedRequest, res: unknown, next: Next) => unknown;

const kHandleRequest = Symbol('otinst.express.handleRequest');
const kHandleError = Symbol('otinst.express.handleError');
const kPatched = Symbol('otinst.express.layerPatched');

interface LayerPrototype {
  [name: string]: unknown;
  [kHandleRequest]?: HandleRequest;
  [kHandleError]?: HandleError;
  [kPatched]?: true;
}

/** `'route'` and `'router'` are routing signals, not errors. */
function isError(error: unknown): boolean {
  return Boolean(error) && error !== 'route' && error !== 'router';
}

function recordingNext(handle: ServerSpan, next: Next): Next {
  return function otinstNext(error?: unknown) {
    if (isError(error)) handle.recordError(error);
    return next(error);
  };
}

function tracedHandleRequest(this: LayerPrototype, req: TracedRequest, res: unknown, next: Next): unknown {
  const handle = req[kServerSpan];
  const original = this[kHandleRequest]!;
  // the no-op tracer's span records nothing: no wrapper for its requests
  return original.call(this, req, res, handle === undefined || handle.trivial ? next : recordingNext(handle, next));
}

function tracedHandleError(
  this: LayerPrototype,
  error: unknown,
  req: TracedRequest,
  res: unknown,
  next: Next,
): unknown {
  const handle = req[kServerSpan];
  const original = this[kHandleError]!;
  if (handle === undefined || handle.trivial) return original.call(this, error, req, res, next);
  // also errors that no handler passed on: a param callback's, a path the router could not decode
  if (isError(error)) handle.recordError(error);
  return original.call(this, error, req, res, recordingNext(handle, next));
}

function patch(proto: LayerPrototype, name: string, key: typeof kHandleRequest | typeof kHandleError): void {
  const original = proto[name];
  if (typeof original !== 'function') return;
  proto[key] = original as HandleRequest & HandleError;
  const wrapper = key === kHandleRequest ? tracedHandleRequest : tracedHandleError;
  Object.defineProperty(proto, name, { value: wrapper, writable: true, configurable: true, enumerable: false });
}

/**
 * Patches the `Layer` prototype of the express copy that `router` belongs to,
 * once per copy (several copies of express in one process each get theirs).
 */
export function captureLayerErrors(router: { stack: readonly object[] }): void {
  const layer = router.stack[0];
  if (layer === undefined) return;
  const proto = Object.getPrototypeOf(layer) as LayerPrototype | null;
  if (proto === null || proto === Object.prototype || Object.prototype.hasOwnProperty.call(proto, kPatched)) return;
  Object.defineProperty(proto, kPatched, { value: true });
  patch(proto, 'handle_request', kHandleRequest);
  patch(proto, 'handleRequest', kHandleRequest);
  patch(proto, 'handle_error', kHandleError);
  patch(proto, 'handleError', kHandleError);
}
