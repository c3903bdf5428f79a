import type { ServerResponse } from 'node:http';
import { debug } from '../safe';
import type { ResponseHeaderReader, ServerSpan } from './span';

/**
 * Finishing a server span from Node's own response object, for every adapter:
 * `close` always fires (after `finish` on a completed response, alone when the
 * client went away first), so one listener gives exactly one finish. The
 * listener is one shared function (no closure per request); its state lives
 * under symbols on the response.
 */
const kHandle = Symbol('otinst.serverSpan');
const kNative = Symbol('otinst.nativeResponse');
const kReader = Symbol('otinst.headerReader');
const kRoute = Symbol('otinst.routeResolver');

/** Finds the route template once the response is over (express, koa: the router has run by then). */
export type RouteResolver = (response: ServerResponse) => string | undefined;

interface TracedResponse extends ServerResponse {
  [kHandle]?: ServerSpan;
  [kNative]?: unknown;
  [kReader]?: ResponseHeaderReader | undefined;
  [kRoute]?: RouteResolver | undefined;
}

/** Reads a header from a Node `ServerResponse` (works after the headers were sent with setHeader). */
export const readNodeResponseHeader: ResponseHeaderReader = (response, name) =>
  (response as ServerResponse).getHeader(name);

function onClose(this: TracedResponse): void {
  const handle = this[kHandle];
  if (handle === undefined) return;
  this[kHandle] = undefined;
  const resolveRoute = this[kRoute];
  if (resolveRoute !== undefined) {
    try {
      handle.setRoute(resolveRoute(this));
    } catch (error) {
      debug('finding the route template failed', error);
    }
  }
  // An injected response (fastify's light-my-request) ends on a fake socket that is still
  // flushing when `close` comes: ended on a live socket counts as completed. A client that
  // left has destroyed the real socket, so it still counts as aborted.
  const socket = this.socket;
  const completed = this.writableFinished || (this.writableEnded && socket != null && !socket.destroyed);
  handle.finish(
    this.headersSent ? this.statusCode : undefined,
    this[kNative] ?? this,
    this[kReader] ?? readNodeResponseHeader,
    !completed,
  );
}

/**
 * Finishes `handle` when `res` closes: with the status actually sent, and
 * `http.aborted=true` when the client went away before the response
 * completed. `nativeResponse` is what `onFinish` receives (the framework's
 * response object); `readHeader` reads response headers for capture;
 * `resolveRoute` names the route just before the finish. A span with nothing
 * to record (the no-op tracer, no `onFinish`) needs no listener at all.
 */
export function finishWithResponse(
  handle: ServerSpan,
  res: ServerResponse,
  nativeResponse?: unknown,
  readHeader?: ResponseHeaderReader,
  resolveRoute?: RouteResolver,
): void {
  if (handle.trivial) return;
  const traced = res as TracedResponse;
  traced[kHandle] = handle;
  if (nativeResponse !== undefined) traced[kNative] = nativeResponse;
  if (readHeader !== undefined) traced[kReader] = readHeader;
  if (resolveRoute !== undefined) traced[kRoute] = resolveRoute;
  if (res.closed) {
    onClose.call(traced);
    return;
  }
  // `on`, not `once`: the listener disarms itself (kHandle), and `once` allocates a wrapper per request
  res.on('close', onClose);
}
