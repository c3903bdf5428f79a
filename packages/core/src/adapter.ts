/**
 * `@otinst/core/adapter`: what a framework adapter needs and an application
 * does not (the server-span lifecycle, option resolution, the debug logger,
 * the wrapping helper). Kept apart from the user API of `@otinst/core`, so
 * that the root stays small; the names may change between minor versions
 * together with the adapters.
 *
 * @example
 * ```ts
 * import { finishWithResponse, IGNORED, openServerSpan, runWithSpan, setupTracing } from '@otinst/core/adapter';
 * const options = setupTracing('@acme/otinst-polka', 'polka', userOptions);
 * // per request:
 * const handle = openServerSpan(options, req, req);
 * if (handle !== null && handle !== IGNORED) finishWithResponse(handle, res);
 * ```
 */
export type { RequestWrapper, TracingOptions } from './types';
export { bind, bindEmitter, enterSpan, enterSuppressed, getCurrentSpan, runSuppressed, runWithSpan } from './context';
export { getConfig } from './config';
export { debug, safeExecute, warnOnce } from './safe';
export { errorFields, recordErrorOnSpan, resolveTracer } from './tracer';
export { sanitiseUrl, stripCredentials } from './url';
export { NodeRequestWrapper } from './server/request';
export { isIgnored, ServerSpan, startServerSpan, type ResponseHeaderReader } from './server/span';
export {
  finishFromResponse,
  finishWithResponse,
  IGNORED,
  openServerSpan,
  readNodeResponseHeader,
  type FinishOptions,
  type RouteResolver,
} from './server/node';
export { claim, claimOf } from './server/claim';
export { resolveOptions, setupTracing, type ResolvedOptions } from './options';
export { startClientSpan, wouldTrace } from './client/span';
export { wrapMethod } from './hooks/wrap';
