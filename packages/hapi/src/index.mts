/**
 * The ES module entry point: named and default exports over the CommonJS
 * build. It re-exports the very objects of `index.js`, so `import` and
 * `require()` share one module instance (one registry of client hooks).
 */
import cjs from './index.js';

export type { HapiTracingOptions } from './index.js';
export const tracingPlugin = cjs.tracingPlugin;
export const plugin = cjs.tracingPlugin;
export default cjs.tracingPlugin;
