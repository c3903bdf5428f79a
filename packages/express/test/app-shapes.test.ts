import { getCurrentSpan } from '@otinst/core';
import { tracingMiddleware } from '@otinst/express';
import express5 from 'express';
import express4 from 'express4';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recorderTracer } from '../../../test/support/tracers';
import { onlySpan, serve, spanIdOf } from './helpers';

type Express = typeof express5;

const FRAMEWORKS = [
  { name: 'express 5', express: express5 },
  { name: 'express 4', express: express4 as unknown as Express },
];

/** The app shapes people build beyond one app with routers: sub-apps, double registration, regex mounts, rewrites. */
describe.each(FRAMEWORKS)('$name app shapes', ({ express }) => {
  const t = recorderTracer();
  const tracing = () => tracingMiddleware(t.tracer, { clientHooks: false });
  beforeEach(() => t.reset());
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function get(app: ReturnType<Express>, path: string) {
    const served = await serve(app);
    close = served.close;
    const response = await fetch(`${served.url}${path}`);
    return { status: response.status, body: await response.text() };
  }

  const answerSpan = (req: express5.Request, res: express5.Response) => res.json({ span: spanIdOf(getCurrentSpan()) });

  it('a sub-app with its own tracingMiddleware: one finished span, the full route, current in the handler', async () => {
    const admin = express();
    admin.use(tracing());
    admin.get('/users/:id', answerSpan);
    const app = express();
    app.use(tracing());
    app.use('/admin', admin);
    const { status, body } = await get(app, '/admin/users/7');
    expect(status).toBe(200);
    const span = await onlySpan(t);
    expect(t.tracer.store.unfinished()).toEqual([]);
    expect(span.operationName).toBe('GET /admin/users/:id');
    expect(span.tags['http.route']).toBe('/admin/users/:id');
    expect(span.parentId ?? null).toBeNull();
    expect(JSON.parse(body)).toEqual({ span: span.spanId });
  });

  it('the middleware registered twice on one app: one finished span', async () => {
    const app = express();
    app.use(tracing());
    app.use(tracing());
    app.get('/users/:id', answerSpan);
    const { body } = await get(app, '/users/1');
    const span = await onlySpan(t);
    expect(t.tracer.store.unfinished()).toEqual([]);
    expect(span.operationName).toBe('GET /users/:id');
    expect(JSON.parse(body)).toEqual({ span: span.spanId });
  });

  it('the middleware registered twice, once in a router: one finished span', async () => {
    const router = express.Router();
    router.use(tracing());
    router.get('/items/:itemId', answerSpan);
    const app = express();
    app.use(tracing());
    app.use('/api', router);
    await get(app, '/api/items/3');
    expect((await onlySpan(t)).operationName).toBe('GET /api/items/:itemId');
    expect(t.tracer.store.unfinished()).toEqual([]);
  });

  it('a sub-app without its own middleware is named with its mount and route', async () => {
    const admin = express();
    const users = express.Router();
    users.get('/:id', answerSpan);
    admin.use('/users', users);
    const app = express();
    app.use(tracing());
    app.use('/admin', admin);
    await get(app, '/admin/users/42');
    expect((await onlySpan(t)).operationName).toBe('GET /admin/users/:id');
  });

  it('a sub-app under a parameterised mount keeps the template', async () => {
    const team = express();
    team.get('/members/:memberId', answerSpan);
    const app = express();
    app.use(tracing());
    app.use('/teams/:teamId', team);
    await get(app, '/teams/red/members/9');
    expect((await onlySpan(t)).operationName).toBe('GET /teams/:teamId/members/:memberId');
  });

  it('a regular-expression mount is named by its source, never by the path it matched', async () => {
    const router = express.Router();
    router.get('/users/:id', answerSpan);
    const app = express();
    app.use(tracing());
    app.use(/^\/rxm\/\d+/, router);
    await get(app, '/rxm/123/users/5');
    const first = await onlySpan(t);
    expect(first.operationName).toBe(`GET ${String(/^\/rxm\/\d+/)}/users/:id`);
    t.reset();
    await get(app, '/rxm/456/users/6');
    expect((await onlySpan(t)).operationName).toBe(first.operationName);
  });

  it('a mount matched case-insensitively is named by the template, not the request casing', async () => {
    const router = express.Router();
    router.get('/Users/:id', answerSpan);
    const app = express();
    app.use(tracing());
    app.use('/Admin', router);
    await get(app, '/aDMIN/uSERS/5');
    expect((await onlySpan(t)).operationName).toBe('GET /Admin/Users/:id');
  });

  it('a middleware that rewrites req.url before a mounted router: named as express routed it', async () => {
    const router = express.Router();
    router.get('/users/:id', answerSpan);
    const app = express();
    app.use(tracing());
    app.use((req, res, next) => {
      req.url = req.url.replace(/^\/old\//, '/v2/');
      next();
    });
    app.use('/v2', router);
    const { status } = await get(app, '/old/users/8');
    expect(status).toBe(200);
    expect((await onlySpan(t)).operationName).toBe('GET /v2/users/:id');
  });

  it('a request that falls through one mount into the next is named by the route that answered', async () => {
    const first = express.Router();
    first.get('/other', answerSpan);
    const second = express.Router();
    second.get('/users/:id', answerSpan);
    const app = express();
    app.use(tracing());
    app.use('/api', first);
    app.use('/api/v1', second);
    await get(app, '/api/v1/users/2');
    expect((await onlySpan(t)).operationName).toBe('GET /api/v1/users/:id');
  });
});
