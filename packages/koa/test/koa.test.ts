import { Readable } from 'node:stream';
import { request as httpRequest } from 'node:http';
import Router from '@koa/router';
import { getCurrentSpan, isTracingSuppressed, startChildSpan } from '@otinst/core';
import tracingMiddlewareDefault, { tracingMiddleware } from '@otinst/koa';
import type { KoaTracingOptions } from '@otinst/koa';
import { RecordingTracer } from '@otinst/recorder';
import Koa3 from 'koa';
import type { Context } from 'koa';
import Koa2 from 'koa2';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { allTracers } from '../../../test/support/tracers';
import type { TracerUnderTest } from '../../../test/support/tracers';
import {
  expectErrorLog,
  expectErrorOutcome,
  onlySpan,
  PARENT,
  rawRequest,
  serve,
  slowPost,
  spanIdOf,
  throwingTracer,
} from '../../../test/support/adapter-tests';
import type { Served } from '../../../test/support/adapter-tests';

type KoaClass = typeof Koa3;

const FRAMEWORKS = [
  { name: 'koa 3', Koa: Koa3, major: 3 },
  { name: 'koa 2', Koa: Koa2 as unknown as KoaClass, major: 2 },
];

const delay = (ms = 1) => new Promise((resolve) => setTimeout(resolve, ms));

/** Errors the app throws, kept to compare with what the span logged. */
const errors = {
  boom: new Error('boom'),
  asyncBoom: new TypeError('async boom'),
  handled: new RangeError('handled by the app'),
  swallowed: new Error('swallowed downstream'),
  streamBroke: new Error('stream broke'),
  /** The error `ctx.throw()` made, caught on its way out. */
  thrown: undefined as Error | undefined,
};

/** Resolves when the broken body stream has emitted its error. */
let streamBroken: Promise<void> = Promise.resolve();

function readBody(ctx: Context): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    ctx.req.setEncoding('utf8');
    ctx.req.on('data', (chunk: string) => (body += chunk));
    ctx.req.on('end', () => resolve(body));
    ctx.req.on('error', reject);
  });
}

/**
 * One app with every shape of route the tests ask about. Its answers show the
 * active span's id, unless `reveal` is false (the comparison with an untraced
 * app).
 */
function buildApp(Koa: KoaClass, tracing: Koa3.Middleware | undefined, reveal = true): Koa3 {
  const current = reveal ? () => spanIdOf(getCurrentSpan()) : () => null;
  const app = new Koa();
  app.silent = true;
  // an error handler registered before the tracing middleware: errors pass through it on their way here
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!ctx.path.startsWith('/handled/')) throw error;
      ctx.status = Number(ctx.path.split('/')[2]);
      ctx.body = { error: (error as Error).message };
    }
  });
  if (tracing !== undefined) app.use(tracing);
  // and one after it, that the tracing middleware never sees an error through
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!ctx.path.startsWith('/swallowed/')) throw error;
      ctx.status = Number(ctx.path.split('/')[2]);
      ctx.body = { error: (error as Error).message, span: current() };
    }
  });
  app.use(async (ctx, next) => {
    ctx.state.inMiddleware = current();
    await next();
  });

  const router = new Router();
  router.get('/users/:id', (ctx) => {
    ctx.body = { id: ctx.params.id, span: current(), inMiddleware: ctx.state.inMiddleware };
  });
  router.get('/context', async (ctx) => {
    const seen: Record<string, unknown> = { handler: current(), inMiddleware: ctx.state.inMiddleware };
    await delay();
    seen.afterAwait = current();
    seen.inImmediate = await new Promise((resolve) => setImmediate(() => resolve(current())));
    startChildSpan('child work').finish();
    ctx.body = seen;
  });
  router.post('/upload', async (ctx) => {
    const body = await readBody(ctx);
    ctx.body = { body, span: current() };
  });
  router.get('/boom', () => {
    throw errors.boom;
  });
  router.get('/async-boom', async () => {
    await delay();
    throw errors.asyncBoom;
  });
  router.get('/thrown/:code', (ctx) => {
    try {
      ctx.throw(Number(ctx.params.code));
    } catch (error) {
      errors.thrown = error as Error;
      throw error;
    }
  });
  router.get('/handled/:code', () => {
    throw errors.handled;
  });
  router.get('/swallowed/:code', () => {
    throw errors.swallowed;
  });
  router.get('/missing-thing', (ctx) => {
    ctx.status = 404;
    ctx.body = 'no such thing';
  });
  router.get('/stream', (ctx) => {
    ctx.body = new Readable({ read() {} }).once('resume', function (this: Readable) {
      this.push('part 1;');
    });
  });
  router.get('/stream-error', (ctx) => {
    let broken!: () => void;
    streamBroken = new Promise((resolve) => (broken = resolve));
    const body = new Readable({ read() {} });
    body.push('part 1;');
    setTimeout(() => {
      body.destroy(errors.streamBroke);
      broken();
    }, 5);
    ctx.body = body;
  });
  router.get(['/health', '/internal/status', '/metrics/cpu', '/skip-me'], (ctx) => {
    ctx.body = { current: getCurrentSpan(), suppressed: isTracingSuppressed() };
  });

  // nested and prefixed routers: /api/v1/items/:itemId, and parameterised mounts
  const v1 = new Router();
  v1.get('/items/:itemId', (ctx) => (ctx.body = { item: ctx.params.itemId }));
  v1.get('/', (ctx) => (ctx.body = 'v1 index'));
  const api = new Router({ prefix: '/api' });
  api.use('/v1', v1.routes());
  const members = new Router();
  members.get('/:memberId', (ctx) => (ctx.body = ctx.params));
  const org = new Router();
  // a router middleware that answers before the route runs
  org.use(async (ctx, next) => {
    if (ctx.query.deny !== undefined) {
      ctx.status = 401;
      ctx.body = 'denied';
      return;
    }
    await next();
  });
  org.get('/users/:id', (ctx) => (ctx.body = ctx.params));
  org.use('/teams/:teamId/members', members.routes());
  const orgs = new Router();
  orgs.use('/orgs/:orgId', org.routes());

  app.use(router.routes());
  app.use(api.routes());
  app.use(orgs.routes());
  app.use(router.allowedMethods());
  return app as Koa3;
}

function serveKoa(app: Koa3): Promise<Served> {
  return serve(app.callback());
}

describe.each(FRAMEWORKS)('$name', ({ Koa }) => {
  describe.each(allTracers())('with the $name tracer', (t: TracerUnderTest) => {
    let served: Served;
    const options: KoaTracingOptions = {
      clientHooks: false,
      ignore: ['/health', '/internal/*', /^\/metrics\//],
    };

    beforeAll(async () => {
      served = await serveKoa(buildApp(Koa, tracingMiddleware(t.tracer, options)));
    });
    afterAll(() => served.close());
    beforeEach(() => t.reset());

    it.each([
      ['/api/v1/items/7', 'GET /api/v1/items/:itemId'],
      ['/api/v1', 'GET /api/v1'],
      ['/api/v1/', 'GET /api/v1'],
      ['/orgs/acme/users/42', 'GET /orgs/:orgId/users/:id'],
      ['/orgs/users/users/users', 'GET /orgs/:orgId/users/:id'],
      ['/orgs/acme/teams/red/members/9', 'GET /orgs/:orgId/teams/:teamId/members/:memberId'],
      ['/ORGS/Acme/USERS/42', 'GET /orgs/:orgId/users/:id'],
    ])('names %s with the prefixes: %s', async (path, name) => {
      const response = await fetch(`${served.url}${path}`);
      expect(response.status).toBe(200);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe(name);
      expect(span.tags['http.route']).toBe(name.slice(4));
    });

    it('names a request that a router middleware answered by the route it matched', async () => {
      const response = await fetch(`${served.url}/orgs/acme/users/42?deny`);
      expect(response.status).toBe(401);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /orgs/:orgId/users/:id');
      expect(span.tags['http.status_code']).toBe(401);
      expect(span.tags['error']).toBeUndefined();
    });

    it.each(['/nowhere/42', '/api/v1/items', '/orgs/acme/nothing'])(
      'names an unmatched request by the method alone: %s',
      async (path) => {
        const response = await fetch(`${served.url}${path}`, { method: 'DELETE' });
        expect(response.status).toBe(404);
        await response.text();
        const span = await onlySpan(t);
        expect(span.operationName).toBe('DELETE');
        expect(span.tags['http.status_code']).toBe(404);
        expect(span.tags['http.route']).toBeUndefined();
        expect(span.tags['error']).toBeUndefined();
      },
    );

    it('keeps the span active after reading a slow body from the stream', async () => {
      const response = await slowPost(`${served.url}/upload`, ['first half, ', 'second half']);
      const span = await onlySpan(t);
      expect(span.operationName).toBe('POST /upload');
      expect(JSON.parse(response)).toEqual({ body: 'first half, second half', span: span.spanId });
    });

    it('records a rejected async route', async () => {
      const response = await fetch(`${served.url}/async-boom`);
      expect(response.status).toBe(500);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /async-boom');
      expectErrorLog(t, span, errors.asyncBoom);
    });

    it.each([404, 418, 503])('ctx.throw(%i): the status koa answers, marked only when 5xx', async (code) => {
      const response = await fetch(`${served.url}/thrown/${code}`);
      expect(response.status).toBe(code);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /thrown/:code');
      expect(span.tags['http.status_code']).toBe(code);
      expectErrorOutcome(t, span, errors.thrown!, code);
    });

    it.each([503, 400])('an error an earlier error handler answers with %i: marked only when 5xx', async (code) => {
      const response = await fetch(`${served.url}/handled/${code}`);
      expect(response.status).toBe(code);
      expect(await response.json()).toEqual({ error: errors.handled.message });
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /handled/:code');
      expect(span.tags['http.status_code']).toBe(code);
      expectErrorOutcome(t, span, errors.handled, code);
    });

    it('marks a 5xx that a later error handler answered, without its error', async () => {
      const response = await fetch(`${served.url}/swallowed/502`);
      expect(response.status).toBe(502);
      const answer = (await response.json()) as { span: string };
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /swallowed/:code');
      expect(span.tags['error']).toBe(true);
      expect(answer.span).toBe(span.spanId);
    });

    it('does not mark a 4xx that the app answers without an error', async () => {
      for (const path of ['/missing-thing', '/swallowed/400']) {
        t.reset();
        const response = await fetch(`${served.url}${path}`);
        expect(response.status).toBe(path === '/missing-thing' ? 404 : 400);
        await response.text();
        const span = await onlySpan(t);
        expect(span.tags['error']).toBeUndefined();
        expect(span.logs).toEqual([]);
      }
    });

    it('finishes once, with the error, when the body stream breaks mid-response', async () => {
      const client = httpRequest(`${served.url}/stream-error`, { agent: false });
      client.on('error', () => {});
      client.end();
      await new Promise((resolve) => client.once('response', resolve));
      await streamBroken;
      // koa 3 closes the response; koa 2 leaves it open until the client gives up
      client.destroy();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /stream-error');
      expect(span.tags['http.status_code']).toBe(200);
      expectErrorLog(t, span, errors.streamBroke);
      if (t.tracer instanceof RecordingTracer) expect(t.tracer.spans()[0]!.finishCount).toBe(1);
    });
  });
});

describe.each(FRAMEWORKS)('$name, options', ({ Koa }) => {
  describe.each(allTracers())('with the $name tracer', (t: TracerUnderTest) => {
    beforeEach(() => t.reset());

    it.each([
      [{ ignore: 'health' }, /^@otinst\/koa: ignore must be/],
      [{ ignore: ['health'] }, /^@otinst\/koa: ignore entries must be/],
      [{ onFinish: 'yes' }, /^@otinst\/koa: onFinish must be a function/],
      [{ operationName: 1 }, /^@otinst\/koa: operationName must be a function/],
      [{ captureResponseHeaders: [''] }, /^@otinst\/koa: captureResponseHeaders must be/],
      [{ clientHooks: 'all' }, /^@otinst\/koa: clientHooks must be/],
      [{ unknownOption: true }, /^@otinst\/koa: unknown option "unknownOption"/],
      ['not options', /^@otinst\/koa: options must be an object/],
    ])('rejects bad options when created: %j', (bad, message) => {
      expect(() => tracingMiddleware(t.tracer, bad as never)).toThrow(TypeError);
      expect(() => tracingMiddleware(t.tracer, bad as never)).toThrow(message);
    });

    it('rejects a tracer that is not one', () => {
      expect(() => tracingMiddleware({ startSpan() {} } as never)).toThrow(/^@otinst\/koa: tracer must be/);
    });

    it('exports a named middleware, also as the default export', () => {
      expect(tracingMiddlewareDefault).toBe(tracingMiddleware);
      expect(tracingMiddleware(t.tracer, { clientHooks: false }).name).toBe('otinstKoaMiddleware');
    });
  });

  describe('a tracer that throws from every method', () => {
    const paths = [
      '/users/42',
      '/context',
      '/api/v1/items/7',
      '/orgs/acme/users/42',
      '/orgs/acme/users/42?deny',
      '/nowhere',
      '/boom',
      '/async-boom',
      '/thrown/404',
      '/thrown/503',
      '/handled/503',
      '/handled/400',
      '/swallowed/502',
      '/missing-thing',
    ];
    let plain: Served;
    let startFails: Served;
    let spansFail: Served;

    beforeAll(async () => {
      vi.spyOn(console, 'error').mockImplementation(() => {});
      const untraced = (tracing: Koa3.Middleware | undefined) => serveKoa(buildApp(Koa, tracing, false));
      plain = await untraced(undefined);
      startFails = await untraced(tracingMiddleware(throwingTracer(false), { clientHooks: false }));
      spansFail = await untraced(tracingMiddleware(throwingTracer(true), { clientHooks: false }));
    });
    afterAll(async () => {
      await Promise.all([plain.close(), startFails.close(), spansFail.close()]);
      vi.restoreAllMocks();
    });

    it.each(paths)('answers %s byte for byte as the untraced app', async (path) => {
      const headers = { traceparent: `00-${PARENT.traceId}-${PARENT.spanId}-01` };
      const expected = await rawRequest(`${plain.url}${path}`, { headers });
      for (const traced of [startFails, spansFail]) {
        const actual = await rawRequest(`${traced.url}${path}`, { headers });
        expect(actual.status).toBe(expected.status);
        expect(actual.body).toBe(expected.body);
        expect(actual.headers['content-type']).toBe(expected.headers['content-type']);
      }
    });

    it('answers a request with a body the same', async () => {
      const request = { method: 'POST', body: 'some body' };
      const expected = await rawRequest(`${plain.url}/upload`, request);
      for (const traced of [startFails, spansFail]) {
        const actual = await rawRequest(`${traced.url}/upload`, request);
        expect([actual.status, actual.body]).toEqual([expected.status, expected.body]);
      }
    });
  });
});
