import { getCurrentSpan, isTracingSuppressed, startChildSpan } from '@otinst/core';
import tracingMiddlewareDefault, { tracingMiddleware } from '@otinst/express';
import type { ExpressTracingOptions } from '@otinst/express';
import { RecordingTracer } from '@otinst/recorder';
import express5 from 'express';
import express4 from 'express4';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { allTracers } from '../../../test/support/tracers';
import type { TracerUnderTest } from '../../../test/support/tracers';
import {
  expectErrorLog,
  onlySpan,
  PARENT,
  rawRequest,
  serve,
  slowPost,
  spanIdOf,
  throwingTracer,
  expectErrorOutcome,
} from './helpers';
import type { Served } from './helpers';

type Express = typeof express5;

const FRAMEWORKS = [
  { name: 'express 5', express: express5, major: 5 },
  { name: 'express 4', express: express4 as unknown as Express, major: 4 },
];

const delay = (ms = 1) => new Promise((resolve) => setTimeout(resolve, ms));

/** Errors the app throws, kept to compare with what the span logged. */
const errors = {
  boom: new Error('boom'),
  teapot: Object.assign(new Error('short and stout'), { status: 418 }),
  asyncBoom: new TypeError('async boom'),
  handled: new RangeError('handled by the app'),
  streamBroke: new Error('stream broke'),
};

/**
 * One app with every shape of route the tests ask about. Its answers show the
 * active span's id, unless `reveal` is false (the comparison with an untraced
 * app: it also runs in production mode, whose error pages show no stack trace,
 * where otinst's frames would differ).
 */
function buildApp(express: Express, major: number, tracing: unknown, reveal = true): ReturnType<Express> {
  const current = reveal ? () => spanIdOf(getCurrentSpan()) : () => null;
  const app = express();
  app.set('env', reveal ? 'test' : 'production');
  if (tracing !== undefined) app.use(tracing as never);
  app.use((req, res, next) => {
    res.locals.inMiddleware = current();
    next();
  });

  app.get('/users/:id', (req, res) => {
    res.json({ id: req.params.id, span: current(), inMiddleware: res.locals.inMiddleware });
  });
  app.get('/context', async (req, res) => {
    const seen: Record<string, unknown> = { handler: current(), inMiddleware: res.locals.inMiddleware };
    await delay();
    seen.afterAwait = current();
    seen.inImmediate = await new Promise((resolve) => setImmediate(() => resolve(current())));
    const child = startChildSpan('child work');
    child.finish();
    res.json(seen);
  });
  app.post('/echo', express.json(), (req, res) => {
    res.json({ body: req.body, span: current() });
  });
  // reads the body from the stream's events itself, as multipart parsers do
  app.post(
    '/upload',
    (req, res, next) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        req.body = body;
        next();
      });
    },
    (req, res) => {
      res.json({ body: req.body, span: current() });
    },
  );

  // nested routers: /api/v1/items/:itemId and the router's own '/'
  const items = express.Router();
  items.get('/items/:itemId', (req, res) => res.json({ item: req.params.itemId }));
  items.route('/').get((req, res) => res.send('v1 index'));
  const api = express.Router();
  api.use('/v1', items);
  app.use('/api', api);

  // a parameterised mount, twice nested
  const members = express.Router({ mergeParams: true });
  members.get('/:memberId', (req, res) => res.json(req.params));
  const org = express.Router({ mergeParams: true });
  org.get('/users/:id', (req, res) => res.json(req.params));
  org.use('/teams/:teamId/members', members);
  app.use('/orgs/:orgId', org);

  // errors: the default final handler, a router's own error handler, plain 4xx answers
  app.get('/boom', () => {
    throw errors.boom;
  });
  app.get('/teapot', (req, res, next) => next(errors.teapot));
  if (major === 5) {
    app.get('/async-boom', async () => {
      await delay();
      throw errors.asyncBoom;
    });
  }
  const handled = express.Router();
  handled.get('/:code', (req, res, next) => {
    res.locals.code = Number(req.params.code);
    next(errors.handled);
  });
  handled.use((error: Error, req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
    res.status(res.locals.code).json({ error: error.message, span: current() });
  });
  app.use('/handled', handled);
  app.get('/missing-thing', (req, res) => {
    res.status(404).send('no such thing');
  });

  // a response that streams: the client leaves in the middle, or the stream breaks
  app.get('/stream', (req, res) => {
    res.write('part 1;');
    res.on('close', () => res.end());
  });
  app.get('/stream-error', (req, res, next) => {
    res.write('part 1;');
    setImmediate(() => next(errors.streamBroke));
  });

  app.get(['/health', '/internal/status', '/metrics/cpu', '/skip-me'], (req, res) => {
    res.json({ current: getCurrentSpan(), suppressed: isTracingSuppressed() });
  });
  return app;
}

describe.each(FRAMEWORKS)('$name', ({ express, major }) => {
  describe.each(allTracers())('with the $name tracer', (t: TracerUnderTest) => {
    let served: Served;
    const options: ExpressTracingOptions = {
      clientHooks: false,
      ignore: ['/health', '/internal/*', /^\/metrics\//],
    };

    beforeAll(async () => {
      served = await serve(buildApp(express, major, tracingMiddleware(t.tracer, options)));
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
      // matched case-insensitively: named by the template, not by the request's casing (express 4 too)
      ['/ORGS/Acme/USERS/42', 'GET /orgs/:orgId/users/:id'],
    ])('names %s with the mount templates: %s', async (path, name) => {
      const response = await fetch(`${served.url}${path}`);
      expect(response.status).toBe(200);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe(name);
      expect(span.tags['http.route']).toBe(span.operationName.slice(4));
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

    it('keeps the span active after a body parser read the request body', async () => {
      const response = await fetch(`${served.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hello: 'world' }),
      });
      const answer = (await response.json()) as { body: unknown; span: string };
      const span = await onlySpan(t);
      expect(span.operationName).toBe('POST /echo');
      expect(answer).toEqual({ body: { hello: 'world' }, span: span.spanId });
    });

    it('keeps the span active after middleware read a slow body from the stream', async () => {
      const response = await slowPost(`${served.url}/upload`, ['first half, ', 'second half']);
      const span = await onlySpan(t);
      expect(span.operationName).toBe('POST /upload');
      expect(JSON.parse(response)).toEqual({ body: 'first half, second half', span: span.spanId });
    });

    it('answers an error passed to next() with the status it asks for; a 4xx does not mark the span', async () => {
      const response = await fetch(`${served.url}/teapot`);
      expect(response.status).toBe(418);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /teapot');
      expect(span.tags['http.status_code']).toBe(418);
      expectErrorOutcome(t, span, errors.teapot, 418);
    });

    // express 4 does not catch a rejected promise: only express 5 answers it with 500
    if (major === 5) {
      it('records a rejected async handler', async () => {
        const response = await fetch(`${served.url}/async-boom`);
        expect(response.status).toBe(500);
        await response.text();
        const span = await onlySpan(t);
        expect(span.operationName).toBe('GET /async-boom');
        expectErrorLog(t, span, errors.asyncBoom);
      });
    }

    it.each([503, 400])('an error the app answers itself with %i: marked only when 5xx', async (code) => {
      const response = await fetch(`${served.url}/handled/${code}`);
      expect(response.status).toBe(code);
      const answer = (await response.json()) as { span: string };
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /handled/:code');
      expect(span.tags['http.status_code']).toBe(code);
      expectErrorOutcome(t, span, errors.handled, code);
      expect(answer.span).toBe(span.spanId);
    });

    it('does not mark a 4xx that the app answers without an error', async () => {
      const response = await fetch(`${served.url}/missing-thing`);
      expect(response.status).toBe(404);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /missing-thing');
      expect(span.tags['http.status_code']).toBe(404);
      expect(span.tags['error']).toBeUndefined();
      expect(span.logs).toEqual([]);
    });

    it('finishes once, with the error, when the response breaks mid-stream', async () => {
      await expect(rawRequest(`${served.url}/stream-error`)).rejects.toThrow();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /stream-error');
      expect(span.tags['http.status_code']).toBe(200);
      expectErrorLog(t, span, errors.streamBroke);
      if (t.tracer instanceof RecordingTracer) expect(t.tracer.spans()[0]!.finishCount).toBe(1);
    });
  });
});

describe.each(FRAMEWORKS)('$name, options', ({ express, major }) => {
  describe.each(allTracers())('with the $name tracer', (t: TracerUnderTest) => {
    beforeEach(() => t.reset());

    it.each([
      [{ ignore: 'health' }, /^@otinst\/express: ignore must be/],
      [{ ignore: ['health'] }, /^@otinst\/express: ignore entries must be/],
      [{ onStart: 'yes' }, /^@otinst\/express: onStart must be a function/],
      [{ operationName: 1 }, /^@otinst\/express: operationName must be a function/],
      [{ captureRequestHeaders: 'x-id' }, /^@otinst\/express: captureRequestHeaders must be/],
      [{ clientHooks: ['nope'] }, /^@otinst\/express: clientHooks: unknown hook "nope"/],
      [{ unknownOption: true }, /^@otinst\/express: unknown option "unknownOption"/],
      ['not options', /^@otinst\/express: options must be an object/],
    ])('rejects bad options when created: %j', (bad, message) => {
      expect(() => tracingMiddleware(t.tracer, bad as never)).toThrow(TypeError);
      expect(() => tracingMiddleware(t.tracer, bad as never)).toThrow(message);
    });

    it('rejects a tracer that is not one', () => {
      expect(() => tracingMiddleware({ startSpan() {} } as never)).toThrow(/^@otinst\/express: tracer must be/);
    });

    it('exports a named middleware, also as the default export', () => {
      expect(tracingMiddlewareDefault).toBe(tracingMiddleware);
      expect(tracingMiddleware(t.tracer, { clientHooks: false }).name).toBe('otinstExpressMiddleware');
    });
  });

  describe('a tracer that throws from every method', () => {
    const paths = [
      '/users/42',
      '/context',
      '/api/v1/items/7',
      '/orgs/acme/users/42',
      '/nowhere',
      '/boom',
      '/teapot',
      '/handled/503',
      '/handled/400',
      '/missing-thing',
      ...(major === 5 ? ['/async-boom'] : []),
    ];
    let plain: Served;
    let startFails: Served;
    let spansFail: Served;

    beforeAll(async () => {
      // production mode logs every error to stderr
      vi.spyOn(console, 'error').mockImplementation(() => {});
      const untraced = (tracing: unknown) => serve(buildApp(express, major, tracing, false));
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
      const request = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' };
      const expected = await rawRequest(`${plain.url}/echo`, request);
      for (const traced of [startFails, spansFail]) {
        const actual = await rawRequest(`${traced.url}/echo`, request);
        expect([actual.status, actual.body]).toEqual([expected.status, expected.body]);
      }
    });
  });
});
