import { uninstallPatches } from '@otinst/core';
import { tracingMiddleware } from '@otinst/express';
import express5 from 'express';
import express4 from 'express4';
import { describe, expect, it } from 'vitest';
import { recorderTracer } from '../../../test/support/tracers';
import { onlySpan, serve } from './helpers';

type Express = typeof express5;

/** express's `Layer` prototype, and its dispatch methods (express 4 and router 2 names). */
function layerMethods(app: ReturnType<Express>): { proto: Record<string, unknown>; names: string[] } {
  const holder = app as unknown as { _router?: { stack: object[] }; router?: { stack: object[] } };
  // `_router` first: express 4's `router` getter throws
  const proto = Object.getPrototypeOf((holder._router ?? holder.router)!.stack[0]) as Record<string, unknown>;
  const names = ['handle_request', 'handle_error', 'handleRequest', 'handleError'].filter(
    (name) => typeof proto[name] === 'function',
  );
  return { proto, names };
}

describe.each([
  { name: 'express 5', express: express5 },
  { name: 'express 4', express: express4 as unknown as Express },
])('$name and uninstallPatches()', ({ express }) => {
  it('puts back the exact Layer methods the middleware wrapped (they go through core wrapMethod)', async () => {
    const t = recorderTracer();
    const app = express();
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    app.get('/users/:id', (req, res) => res.send('ok'));
    const { proto, names } = layerMethods(app);
    const originals = names.map((name) => proto[name]);
    const served = await serve(app);
    try {
      await fetch(`${served.url}/users/1`).then((response) => response.text());
      expect((await onlySpan(t)).operationName).toBe('GET /users/:id');
      expect(names.map((name) => proto[name])).not.toEqual(originals);
      uninstallPatches();
      expect(names.map((name) => proto[name])).toEqual(originals);
    } finally {
      await served.close();
    }
  });
});
