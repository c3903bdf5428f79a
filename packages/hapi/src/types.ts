import type { TracingOptions } from '@otinst/core';
import type { Request } from '@hapi/hapi';

/**
 * Options of `tracingPlugin`: core's `TracingOptions` with hapi's own request
 * in the user hooks (`ignore`, `operationName`, `onStart`, `onFinish`); the
 * response that `onFinish` receives is `request.response` once hapi has sent
 * it (a Boom when the client left before anything was sent). Every field is
 * optional.
 *
 * @example
 * ```ts
 * import type { HapiTracingOptions } from '@otinst/hapi';
 * const options: HapiTracingOptions = {
 *   tracer,
 *   ignore: ['/health'],
 *   onFinish: (span, request) => span.setTag('user.id', request.auth.credentials?.id),
 * };
 * await server.register({ plugin: tracingPlugin, options });
 * ```
 */
export type HapiTracingOptions = TracingOptions<Request, Request['response']>;
