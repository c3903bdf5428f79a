import { installedPatches, uninstallPatches } from '@otinst/core';
import { tracingMiddleware } from '@otinst/koa';
import Router from '@koa/router';
import Koa from 'koa';
import { initGlobalTracer } from 'opentracing';
import { afterAll, describe, expect, it } from 'vitest';
import { onlySpan, serve } from '../../../test/support/adapter-tests';
import { recorderTracer } from '../../../test/support/tracers';

/** Process-wide defaults: this file runs in its own process, like every test file. */
describe('defaults', () => {
  afterAll(() => uninstallPatches());

  it('uses the global tracer, looked up per request, when none is given', async () => {
    const app = new Koa();
    app.use(tracingMiddleware(undefined, { clientHooks: false }));
    const router = new Router();
    router.get('/users/:id', (ctx) => (ctx.body = 'ok'));
    app.use(router.routes());
    const served = await serve(app.callback());
    try {
      // the global tracer is set after the middleware was created
      const t = recorderTracer();
      initGlobalTracer(t.tracer);
      await (await fetch(`${served.url}/users/1`)).text();
      expect((await onlySpan(t)).operationName).toBe('GET /users/:id');
    } finally {
      await served.close();
    }
  });

  it('installs the client hooks it is asked for when created: none, a list, or all of them by default', () => {
    tracingMiddleware(undefined, { clientHooks: false });
    expect(installedPatches()).toEqual([]);
    tracingMiddleware(undefined, { clientHooks: ['http'] });
    expect(installedPatches()).toEqual(['http']);
    tracingMiddleware();
    expect(installedPatches()).toEqual(
      expect.arrayContaining(['http', 'fetch', 'pg', 'mysql2', 'redis', 'ioredis', 'amqplib']),
    );
  });
});
