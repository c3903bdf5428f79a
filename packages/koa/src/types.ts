import type { TracingOptions } from '@otinst/core';
import type { Context } from 'koa';

/**
 * Options of the koa `tracingMiddleware`: core's `TracingOptions`, with koa's
 * `ctx` given to the `ignore`, `operationName`, `onStart` hooks and as both
 * request and response to `onFinish`. Every field is optional; see
 * `TracingOptions` for the defaults.
 *
 * @example
 * ```ts
 * import type { KoaTracingOptions } from '@otinst/koa';
 * const options: KoaTracingOptions = {
 *   ignore: (ctx) => ctx.path === '/health',
 *   onFinish: (span, ctx) => span.setTag('user.id', ctx.state.user?.id ?? 'anonymous'),
 * };
 * ```
 */
export type KoaTracingOptions = TracingOptions<Context, Context>;
