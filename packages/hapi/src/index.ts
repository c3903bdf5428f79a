/**
 * @otinst/hapi: OpenTracing for @hapi/hapi 21. Register `tracingPlugin` first:
 * `server.register({ plugin: tracingPlugin, options: { tracer } })`.
 *
 * @module
 */
import { tracingPlugin } from './plugin';

export { tracingPlugin } from './plugin';
/**
 * `tracingPlugin` under the name hapi looks for in a plugin module, so that
 * `server.register({ plugin: require('@otinst/hapi'), options })` works too.
 */
export { tracingPlugin as plugin } from './plugin';
export type { HapiTracingOptions } from './types';
export default tracingPlugin;
