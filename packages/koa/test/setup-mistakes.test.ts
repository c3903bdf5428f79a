import Router from '@koa/router';
import { resetConfig } from '@otinst/core';
import { tracingMiddleware } from '@otinst/koa';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { initGlobalTracer } from 'opentracing';
import { beforeEach, describe, expect, it } from 'vitest';
import { recorderTracer } from '../../../test/support/tracers';
import { captureWarnings, onlySpan, statusesOf, waitForSpans } from '../../../test/support/adapter-tests';

type KoaClass = typeof Koa3;

const { warned } = captureWarnings();

function routes(): Router {
  const router = new Router();
  router.get('/users/:id', (ctx) => (ctx.body = 'ok'));
  router.get('/health', (ctx) => (ctx.body = 'ok'));
  return router;
}

describe.each([
  { name: 'koa 3', Koa: Koa3 },
  { name: 'koa 2', Koa: Koa2 as unknown as KoaClass },
])('$name set-up mistakes', ({ Koa }) => {
  const t = recorderTracer();
  beforeEach(() => {
    t.reset();
    resetConfig(); // the first explicit tracer becomes the configured one: not across rounds
  });

  it('app.use(tracingMiddleware), not called: works as tracingMiddleware(), warns once with OTINST_MIDDLEWARE_NOT_CALLED', async () => {
    initGlobalTracer(t.tracer);
    const app = new Koa();
    app.use(tracingMiddleware as never);
    app.use(routes().routes());
    expect(await statusesOf(app.callback(), ['/users/1', '/users/2'])).toEqual([200, 200]);
    expect((await waitForSpans(t, 2)).map((span) => span.operationName)).toEqual(['GET /users/:id', 'GET /users/:id']);
    const notCalled = await warned('OTINST_MIDDLEWARE_NOT_CALLED');
    expect(notCalled).toHaveLength(1);
    expect(notCalled[0]!.message).toContain('app.use(tracingMiddleware(tracer))');
  });

  it('registered after router.routes(): warns once with OTINST_MIDDLEWARE_AFTER_ROUTES, naming the fix', async () => {
    const app = new Koa();
    app.use(routes().routes());
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    expect(await statusesOf(app.callback(), ['/users/1', '/nowhere', '/elsewhere'])).toEqual([200, 404, 404]);
    const afterRoutes = await warned('OTINST_MIDDLEWARE_AFTER_ROUTES');
    expect(afterRoutes).toHaveLength(1);
    expect(afterRoutes[0]!.message).toContain('register it first');
  });

  it('the options-object form: tracingMiddleware({ tracer, ignore })', async () => {
    const app = new Koa();
    app.use(tracingMiddleware({ tracer: t.tracer, ignore: ['/health'], clientHooks: false }));
    app.use(routes().routes());
    expect(await statusesOf(app.callback(), ['/health', '/users/3'])).toEqual([200, 200]);
    expect((await onlySpan(t)).operationName).toBe('GET /users/:id');
  });

  it('the options-object form rejects a second options object and bad options at creation', () => {
    expect(() => tracingMiddleware({ clientHooks: false }, { clientHooks: false })).toThrow(
      /^@otinst\/koa: got two options objects/,
    );
    expect(() => tracingMiddleware({ tracer: {} as never })).toThrow(/^@otinst\/koa: tracer must be/);
    expect(() => tracingMiddleware({ nope: 1 } as never)).toThrow(/^@otinst\/koa: unknown option "nope"/);
  });
});
