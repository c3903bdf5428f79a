import type { ServerSpan } from './span';

/**
 * One server span per request, however many otinst layers the request passes
 * through (a sub-app with its own middleware, a plugin registered twice, two
 * copies of @otinst/core): the first layer claims the Node request, later
 * layers find the claim and step aside. The key is a global symbol so that
 * two copies of core agree.
 */
const kClaim = Symbol.for('otinst.serverSpan.claim');

interface Claimable {
  [kClaim]?: ServerSpan | null;
}

/**
 * What an earlier otinst layer decided for `request` (the Node
 * `IncomingMessage` or `Http2ServerRequest`): its span handle, `null` when it
 * ignored the request (tracing suppressed), `undefined` when no layer saw it.
 */
export function claimOf(request: object): ServerSpan | null | undefined {
  return (request as Claimable)[kClaim];
}

/** Records what this layer decided for `request`; see `claimOf`. */
export function claim(request: object, handle: ServerSpan | null): void {
  (request as Claimable)[kClaim] = handle;
}
