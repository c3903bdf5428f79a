import { AsyncResource } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { runWithSpan } from '../context';
import type { ResolvedOptions } from '../options';
import { debug } from '../safe';
import { claim } from './claim';
import { NodeRequestWrapper } from './request';
import { isIgnored, startServerSpan } from './span';
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

/** What `finishWithResponse` needs besides the handle and the Node response; every field is optional. */
export interface FinishOptions {
  /** What `onFinish` receives: the framework's response object (default: the Node response). */
  response?: unknown;
  /** Reads response headers for `captureResponseHeaders` (default: the Node response's `getHeader`). */
  readHeader?: ResponseHeaderReader;
  /** Names the route just before the finish (express, koa: the router has run by then). */
  resolveRoute?: RouteResolver;
}

/** The part of an `Http2ServerResponse` (`res.stream`) that tells a reset stream from a completed one. */
interface Http2StreamLike {
  aborted?: boolean;
  rstCode?: number;
  closed?: boolean;
}

interface TracedResponse extends ServerResponse {
  stream?: Http2StreamLike;
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
  finishFromResponse(handle, this, this[kNative] ?? this, this[kReader]);
}

/**
 * Finishes `handle` now from what the Node response says: the status sent (none
 * when no header went out) and `http.aborted` when it did not complete. For an
 * adapter whose framework reports the end itself (hapi's `response` event,
 * which also comes for injected requests); the others use `finishWithResponse`.
 * `response` is what `onFinish` receives (default: `res`); `failed` says the
 * framework itself saw the transmission fail (then it is aborted whatever the
 * response reports: on Node 22 a response ended after its socket died still
 * reads as finished).
 */
export function finishFromResponse(
  handle: ServerSpan,
  res: ServerResponse,
  response: unknown = res,
  readHeader: ResponseHeaderReader = readNodeResponseHeader,
  failed = false,
): void {
  const aborted = failed || !completed(res as TracedResponse);
  handle.finish(res.headersSent ? res.statusCode : undefined, response, readHeader, aborted);
  releaseIdleSocket(res);
}

/** NGHTTP2_NO_ERROR: the code of a stream that closed normally. */
const NO_ERROR = 0;

function completed(res: TracedResponse): boolean {
  const stream = res.stream;
  if (stream !== undefined && stream !== null) {
    // HTTP/2: a stream the client reset (RST_STREAM, say CANCEL) still reports writableFinished
    // on its Http2ServerResponse; its rstCode and `aborted` tell the truth
    return (
      stream.aborted !== true && (stream.rstCode === undefined || stream.rstCode === NO_ERROR) && res.writableFinished
    );
  }
  // An injected response (fastify's light-my-request) ends on a fake socket that is still
  // flushing when `close` comes: ended on a live socket counts as completed. A client that
  // left has destroyed the real socket, so it still counts as aborted.
  const socket = res.socket;
  return res.writableFinished || (res.writableEnded && socket != null && !socket.destroyed);
}

/**
 * The context of this module's loading, with no span of ours in it: the idle
 * timer is re-armed there. Entering it costs a pointer swap, where
 * `runWithSpan(null, …)` built a new context per request (and
 * `AsyncResource.bind`'s wrapper copies its arguments on every call).
 */
const outsideRequests = runWithSpan(null, () => new AsyncResource('otinst.idleSocket'));

function rearm(this: null, socket: Socket, timeout: number): void {
  socket.setTimeout(timeout);
}

/**
 * When a keep-alive response finishes, Node re-arms the socket's idle timer
 * (`keepAliveTimeout`) from inside the request's async context, and the timer
 * keeps that context, and so the finished span, reachable for as long as the
 * connection sits idle (measured: 99 of 100 spans alive on 100 idle
 * connections). Re-arming it with the same delay outside our context lets the
 * span go; the idle timeout itself is unchanged.
 */
function releaseIdleSocket(res: ServerResponse): void {
  // ServerResponse.req (Node >= 15.7): `res.socket` is already detached by now
  const socket = (res as { req?: { socket?: Socket | null } }).req?.socket;
  if (socket === undefined || socket === null || socket.destroyed) return;
  const timeout = (socket as Socket & { timeout?: number }).timeout;
  if (typeof timeout !== 'number' || timeout <= 0 || typeof socket.setTimeout !== 'function') return;
  try {
    outsideRequests.runInAsyncScope(rearm, null, socket, timeout);
  } catch (error) {
    debug('re-arming the idle socket timer failed', error);
  }
}

/**
 * Finishes `handle` when `res` (a Node `ServerResponse` or an HTTP/2
 * compatibility `Http2ServerResponse`) closes: with the status actually sent,
 * and `http.aborted=true` when the client went away (or reset the HTTP/2
 * stream) before the response completed. See `FinishOptions` for the rest. A
 * span with nothing to record (the no-op tracer, no `onFinish`) needs no
 * listener at all.
 */
export function finishWithResponse(handle: ServerSpan, res: ServerResponse, options?: FinishOptions): void {
  if (handle.trivial) return;
  const traced = res as TracedResponse;
  traced[kHandle] = handle;
  if (options !== undefined) {
    if (options.response !== undefined) traced[kNative] = options.response;
    if (options.readHeader !== undefined) traced[kReader] = options.readHeader;
    if (options.resolveRoute !== undefined) traced[kRoute] = options.resolveRoute;
  }
  // Http2ServerResponse has no `closed`: its stream has
  if (res.closed || traced.stream?.closed === true) {
    onClose.call(traced);
    return;
  }
  // `on`, not `once`: the listener disarms itself (kHandle), and `once` allocates a wrapper per request
  res.on('close', onClose);
}

/** What `openServerSpan` answers for a request the `ignore` option matched: run the rest of it suppressed. */
export const IGNORED = 'ignored';

/**
 * The first steps of every adapter, for a request no otinst layer has claimed
 * yet (`claimOf(req) === undefined`): wrap the Node request, apply `ignore`,
 * start the span (named `<METHOD> <route>` at once when the framework already
 * knows `route`), and claim the request for this layer. Answers the handle,
 * `null` when there is nothing to trace (a failing tracer), or `IGNORED`.
 * Never throws. `request` is the framework's own request object, what the
 * user hooks receive.
 */
export function openServerSpan(
  options: ResolvedOptions,
  req: IncomingMessage,
  request: unknown,
  route?: string,
): ServerSpan | null | typeof IGNORED {
  let handle: ServerSpan | null = null;
  try {
    const wrapper = NodeRequestWrapper.fromIncomingMessage(req);
    if (isIgnored(options, wrapper.path, request)) {
      claim(req, null);
      return IGNORED;
    }
    handle = startServerSpan(options, wrapper, request, route);
  } catch (error) {
    debug(`${options.packageName}: starting the server span failed`, error);
  }
  claim(req, handle);
  return handle;
}
