import type { TracingOptions } from '@otinst/core';
import type { Request, Response } from 'express';

/**
 * Options of the express `tracingMiddleware`: core's `TracingOptions`, with
 * express's `req` and `res` given to the `ignore`, `operationName`, `onStart`
 * and `onFinish` hooks. Every field is optional; see `TracingOptions` for the
 * defaults.
 *
 * @example
 * ```ts
 * import type { ExpressTracingOptions } from '@otinst/express';
 * const options: ExpressTracingOptions = {
 *   ignore: ['/health', '/metrics'],
 *   onStart: (span, req) => span.setTag('tenant', req.get('x-tenant') ?? 'none'),
 * };
 * ```
 */
export type ExpressTracingOptions = TracingOptions<Request, Response>;
