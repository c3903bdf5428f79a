import Router from '@koa/router';
import { getCurrentSpan } from '@otinst/core';
import { tracingMiddleware } from '@otinst/koa';
import Koa3 from 'koa';
import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import Koa2 from 'koa2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recorderTracer } from '../../../test/support/tracers';
import { onlySpan, serve, spanIdOf } from '../../../test/support/adapter-tests';

type KoaClass = typeof Koa3;

const FRAMEWORKS = [
  { name: 'koa 3', Koa: Koa3 },
  { name: 'koa 2', Koa: Koa2 as unknown as KoaClass },
];

/**
 * Mounts `sub` under `prefix` the way koa-mount does (koa-mount is not a
 * dependency here): the sub-app's middleware composed, run on the same `ctx`
 * with the prefix taken off `ctx.path`.
 */
function mount(prefix: string, sub: Koa3): Middleware {
  const downstream = compose(sub.middleware);
  return async function mounted(ctx: Context, upstream: Next) {
    const prev = ctx.path;
    if (!prev.startsWith(prefix) || (prev.length > prefix.length && prev[prefix.length] !== '/')) return upstream();
    const newPath = prev.slice(prefix.length) || '/';
    (ctx as Context & { mountPath?: string }).mountPath = prefix;
    ctx.path = newPath;
    await downstream(ctx, async () => {
      ctx.path = prev;
      await upstream();
      ctx.path = newPath;
    });
    ctx.path = prev;
  };
}

describe.each(FRAMEWORKS)('$name app shapes', ({ Koa }) => {
  const t = recorderTracer();
  beforeEach(() => t.reset());
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function get(app: Koa3, path: string) {
    const served = await serve(app.callback());
    close = served.close;
    const response = await fetch(`${served.url}${path}`);
    return { status: response.status, body: await response.text() };
  }

  it('the middleware registered twice on one app: one finished span, no stack overflow', async () => {
    const app = new Koa();
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    const router = new Router();
    router.get('/users/:id', (ctx) => (ctx.body = { span: spanIdOf(getCurrentSpan()) }));
    app.use(router.routes());
    const { status, body } = await get(app, '/users/7');
    expect(status).toBe(200);
    const span = await onlySpan(t);
    expect(t.tracer.store.unfinished()).toEqual([]);
    expect(span.operationName).toBe('GET /users/:id');
    expect(JSON.parse(body)).toEqual({ span: span.spanId });
  });

  it('the middleware registered twice: a thrown error is recorded once, answered by koa', async () => {
    const app = new Koa();
    app.silent = true;
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    const router = new Router();
    router.get('/boom', () => {
      throw new Error('boom');
    });
    app.use(router.routes());
    expect((await get(app, '/boom')).status).toBe(500);
    const span = await onlySpan(t);
    expect(t.tracer.store.unfinished()).toEqual([]);
    expect(span.operationName).toBe('GET /boom');
    expect(span.tags['error']).toBe(true);
    expect(span.logs.filter((log) => log.event === 'error')).toHaveLength(1);
  });

  it('a mounted sub-app with its own middleware: one finished span named with the mount prefix', async () => {
    const sub = new Koa();
    sub.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    const subRouter = new Router();
    subRouter.get('/users/:id', (ctx) => (ctx.body = { span: spanIdOf(getCurrentSpan()) }));
    subRouter.get('/', (ctx) => (ctx.body = { span: spanIdOf(getCurrentSpan()) }));
    sub.use(subRouter.routes());
    const app = new Koa();
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    app.use(mount('/admin', sub));
    const { status, body } = await get(app, '/admin/users/9');
    expect(status).toBe(200);
    const span = await onlySpan(t);
    expect(t.tracer.store.unfinished()).toEqual([]);
    expect(span.operationName).toBe('GET /admin/users/:id');
    expect(span.tags['http.route']).toBe('/admin/users/:id');
    expect(JSON.parse(body)).toEqual({ span: span.spanId });

    t.reset();
    await get(app, '/admin');
    expect((await onlySpan(t)).operationName).toBe('GET /admin');
  });

  it('a sub-app mounted twice deep, each with its own middleware: the full prefix', async () => {
    const inner = new Koa();
    inner.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    const router = new Router();
    router.get('/items/:itemId', (ctx) => (ctx.body = 'ok'));
    inner.use(router.routes());
    const middle = new Koa();
    middle.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    middle.use(mount('/v1', inner));
    const app = new Koa();
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    app.use(mount('/api', middle));
    expect((await get(app, '/api/v1/items/3')).status).toBe(200);
    expect((await onlySpan(t)).operationName).toBe('GET /api/v1/items/:itemId');
  });
});
