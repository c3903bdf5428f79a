/**
 * The ES module entry point: named and default exports over the CommonJS
 * build. It re-exports the very objects of `index.js`, so `import` and
 * `require()` share one module instance (one registry of client hooks).
 */
import cjs from './index.js';

export type { KoaTracingOptions } from './index.js';
export const tracingMiddleware = cjs.tracingMiddleware;
export default cjs.tracingMiddleware;
