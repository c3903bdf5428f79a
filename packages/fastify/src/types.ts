import type { TracingOptions } from '@otinst/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Options of `tracingPlugin`: core's `TracingOptions` with fastify's own
 * request and reply in the user hooks (`ignore`, `operationName`, `onStart`,
 * `onFinish`). Every field is optional.
 *
 * @example
 * ```ts
 * import type { FastifyTracingOptions } from '@otinst/fastify';
 * const options: FastifyTracingOptions = {
 *   tracer,
 *   ignore: ['/health'],
 *   onFinish: (span, request, reply) => span.setTag('user.id', request.headers['x-user-id']),
 * };
 * await fastify.register(tracingPlugin, options);
 * ```
 */
export type FastifyTracingOptions = TracingOptions<FastifyRequest, FastifyReply>;
