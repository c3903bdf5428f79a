/**
 * @otinst/core: the request context, configuration, local spans, HTTP
 * client-span helpers and the client hooks. What framework adapters need
 * besides (the server-span lifecycle, option resolution, the debug logger)
 * is in `@otinst/core/adapter`.
 */
export type { HookName, OperationNameInfo, RequestWrapper, TracingOptions } from './types';
export {
  bind,
  bindEmitter,
  getCurrentSpan,
  isTracingSuppressed,
  runSuppressed,
  runWithSpan,
  setCurrentSpanFunc,
} from './context';
export { configure, getConfig, resetConfig, type InstrumentationConfig } from './config';
export { setDebugLogger, type DebugLogger } from './safe';
export * as Tags from './tags';
export { NodeRequestWrapper } from './server/request';
export { DEFAULT_SENSITIVE_QUERY_PARAMETERS } from './url';
export { beforeRequest } from './server/span';
export { beforeHttpRequest, splitHostAndPort, type HttpClientRequest } from './client/http';
export { ClientInterceptors, type ClientInterceptor } from './client/interceptors';
export { startChildSpan, traceFunction, type ChildSpanOptions, type TraceFunctionOptions } from './local-span';
export { HOOK_NAMES, installAllPatches, installedPatches, installPatches, uninstallPatches } from './hooks/registry';
