/**
 * @otinst/fastify: OpenTracing for fastify 4 and 5. Register `tracingPlugin`
 * once on the root instance: `fastify.register(tracingPlugin, { tracer })`.
 *
 * @module
 */
import { tracingPlugin } from './plugin';

export { tracingPlugin } from './plugin';
export type { FastifyTracingOptions } from './types';
export default tracingPlugin;
