/**
 * @otinst/core: request context, the server-span lifecycle that the framework
 * adapters share, HTTP client-span helpers, local spans and the client hooks.
 */
export type { HookName, OperationNameInfo, RequestWrapper, TracingOptions } from './types';
export {
  bind,
  bindEmitter,
  enterSpan,
  enterSuppressed,
  getCurrentSpan,
  isTracingSuppressed,
  runSuppressed,
  runWithSpan,
  setCurrentSpanFunc,
} from './context';
export { configure, getConfig, resetConfig, type InstrumentationConfig } from './config';
export { debug, safeExecute, setDebugLogger, warnOnce, type DebugLogger } from './safe';
export * as Tags from './tags';
export { errorFields, recordErrorOnSpan, resolveTracer } from './tracer';
export { NodeRequestWrapper } from './server/request';
export { DEFAULT_SENSITIVE_QUERY_PARAMETERS, sanitiseUrl, stripCredentials } from './url';
export { beforeRequest, isIgnored, ServerSpan, startServerSpan, type ResponseHeaderReader } from './server/span';
export {
  finishFromResponse,
  finishWithResponse,
  readNodeResponseHeader,
  type FinishOptions,
  type RouteResolver,
} from './server/node';
export { claim, claimOf } from './server/claim';
export { resolveOptions, setupTracing, type ResolvedOptions } from './options';
export { beforeHttpRequest, splitHostAndPort, type HttpClientRequest } from './client/http';
export { ClientInterceptors, type ClientInterceptor } from './client/interceptors';
export { startClientSpan, wouldTrace } from './client/span';
export { startChildSpan, traceFunction, type ChildSpanOptions, type TraceFunctionOptions } from './local-span';
export { wrapMethod } from './hooks/wrap';
export { HOOK_NAMES, installAllPatches, installedPatches, installPatches, uninstallPatches } from './hooks/registry';
