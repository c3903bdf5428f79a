import { tracingMiddleware } from '@otinst/express';
import express5 from 'express';
import express4 from 'express4';
import { describe, expect, it } from 'vitest';
import { recorderTracer } from '../../../test/support/tracers';
import { onlySpan, serve } from './helpers';

type Express = typeof express5;

/**
 * The middleware registered only inside a mounted router: the mounts above it
 * ran before it. In its own file, so that the first request really is the
 * first one each express copy sees (its `Layer` methods not wrapped yet).
 */
describe.each([
  { name: 'express 5', express: express5 },
  { name: 'express 4', express: express4 as unknown as Express },
])('$name: the middleware only inside a mounted router', ({ express }) => {
  it('names the route with the mount templates above it, from the first request on', async () => {
    const t = recorderTracer();
    const items = express.Router({ mergeParams: true });
    items.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    items.get('/items/:itemId', (req, res) => res.send('ok'));
    const app = express();
    app.use('/orgs/:orgId', items);
    const served = await serve(app);
    try {
      for (const path of ['/orgs/acme/items/3', '/orgs/other/items/4']) {
        t.reset();
        await fetch(`${served.url}${path}`).then((response) => response.text());
        expect((await onlySpan(t)).operationName).toBe('GET /orgs/:orgId/items/:itemId');
      }
    } finally {
      await served.close();
    }
  });
});
