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
  abortAfterFirstChunk,
  expectChildOfParent,
  expectErrorLog,
  onlySpan,
  PARENT,
  rawRequest,
  serve,
  slowPost,
  spanIdOf,
  throwingTracer,
  waitForSpans,
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

    it('names a route on the app, with every tag', async () => {
      const response = await rawRequest(`${served.url}/users/42?expand=teams`);
      expect(response.status).toBe(200);
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /users/:id');
      expect(span.tags).toMatchObject({
        'span.kind': 'server',
        component: 'express',
        'http.method': 'GET',
        'http.url': `${served.url}/users/42?expand=teams`,
        'http.status_code': 200,
        'http.route': '/users/:id',
        'peer.ipv4': '127.0.0.1',
        'peer.port': response.localPort,
      });
      expect(span.tags['error']).toBeUndefined();
      expect(JSON.parse(response.body)).toMatchObject({ span: span.spanId, inMiddleware: span.spanId });
    });

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

    it('continues the trace of the incoming headers', async () => {
      const response = await fetch(`${served.url}/users/1`, {
        headers: t.parentHeaders(PARENT.traceId, PARENT.spanId),
      });
      await response.text();
      expectChildOfParent(t, await onlySpan(t));
    });

    it('keeps the span active in middleware, handlers, awaited code and child spans', async () => {
      const seen = (await (await fetch(`${served.url}/context`)).json()) as Record<string, string>;
      const spans = await waitForSpans(t, 2);
      const server = spans.find((span) => span.operationName === 'GET /context')!;
      const child = spans.find((span) => span.operationName === 'child work')!;
      expect(seen).toEqual({
        handler: server.spanId,
        inMiddleware: server.spanId,
        afterAwait: server.spanId,
        inImmediate: server.spanId,
      });
      expect(child.parentId).toBe(server.spanId);
      expect(child.traceId).toBe(server.traceId);
    });

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

    it('records a thrown error answered by the final handler', async () => {
      const response = await fetch(`${served.url}/boom`);
      expect(response.status).toBe(500);
      await response.text();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /boom');
      expect(span.tags['http.status_code']).toBe(500);
      expectErrorLog(t, span, errors.boom);
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

    it('finishes once, tagged http.aborted, when the client leaves mid-response', async () => {
      expect(await abortAfterFirstChunk(`${served.url}/stream`)).toBe('part 1;');
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /stream');
      expect(span.tags['http.aborted']).toBe(true);
      expect(span.tags['http.status_code']).toBe(200);
      expect(span.tags['error']).toBeUndefined();
      if (t.tracer instanceof RecordingTracer) expect(t.tracer.spans()[0]!.finishCount).toBe(1);
    });

    it('finishes once, with the error, when the response breaks mid-stream', async () => {
      await expect(rawRequest(`${served.url}/stream-error`)).rejects.toThrow();
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /stream-error');
      expect(span.tags['http.status_code']).toBe(200);
      expectErrorLog(t, span, errors.streamBroke);
      if (t.tracer instanceof RecordingTracer) expect(t.tracer.spans()[0]!.finishCount).toBe(1);
    });

    it.each(['/health', '/internal/status', '/metrics/cpu'])('traces nothing for the ignored path %s', async (path) => {
      const answer = await (await fetch(`${served.url}${path}`)).json();
      expect(answer).toEqual({ current: null, suppressed: true });
      await fetch(`${served.url}/users/1`).then((response) => response.text());
      // the traced request after it is the only span
      expect((await onlySpan(t)).operationName).toBe('GET /users/:id');
    });
  });
});

describe.each(FRAMEWORKS)('$name, options', ({ express, major }) => {
  describe.each(allTracers())('with the $name tracer', (t: TracerUnderTest) => {
    beforeEach(() => t.reset());

    async function once(options: ExpressTracingOptions, path: string, headers: Record<string, string> = {}) {
      const served = await serve(
        buildApp(express, major, tracingMiddleware(t.tracer, { clientHooks: false, ...options })),
      );
      try {
        const response = await fetch(`${served.url}${path}`, { headers });
        const body = await response.text();
        return { response, body, spans: await waitForSpans(t, 1) };
      } finally {
        await served.close();
      }
    }

    it('ignores requests by a function of the native request', async () => {
      const ignore = (req: express5.Request) => req.get('x-skip') === 'yes';
      const { body, spans } = await once({ ignore }, '/users/1', { 'x-skip': 'no' });
      expect(JSON.parse(body).span).toBe(spans[0]!.spanId);
      const served = await serve(buildApp(express, major, tracingMiddleware(t.tracer, { clientHooks: false, ignore })));
      try {
        t.reset();
        const answer = await (await fetch(`${served.url}/skip-me`, { headers: { 'x-skip': 'yes' } })).json();
        expect(answer).toEqual({ current: null, suppressed: true });
        await fetch(`${served.url}/users/2`).then((response) => response.text());
        expect((await onlySpan(t)).operationName).toBe('GET /users/:id');
      } finally {
        await served.close();
      }
    });

    it('captures the listed headers and redacts credentials', async () => {
      const { spans } = await once(
        {
          captureRequestHeaders: ['X-Request-Id', 'authorization', 'x-absent'],
          captureResponseHeaders: ['Content-Type'],
        },
        '/users/1',
        { 'x-request-id': 'req-1', authorization: 'Bearer secret', 'x-other': 'not captured' },
      );
      const tags = spans[0]!.tags;
      expect(tags['http.request.header.x-request-id']).toBe('req-1');
      expect(tags['http.request.header.authorization']).toBe('[REDACTED]');
      expect(tags['http.response.header.content-type']).toBe('application/json; charset=utf-8');
      expect(
        Object.keys(tags)
          .filter((key) => key.startsWith('http.request.header.'))
          .sort(),
      ).toEqual(['http.request.header.authorization', 'http.request.header.x-request-id']);
    });

    it('records a credential header that allowSensitiveHeaders lists', async () => {
      const { spans } = await once(
        { captureRequestHeaders: ['authorization'], allowSensitiveHeaders: ['Authorization'] },
        '/users/1',
        { authorization: 'Bearer visible' },
      );
      expect(spans[0]!.tags['http.request.header.authorization']).toBe('Bearer visible');
    });

    it('gives the hooks the native request and response', async () => {
      const seen: Record<string, unknown> = {};
      const { spans } = await once(
        {
          operationName: (info) => {
            seen.info = { method: info.method, route: info.route, path: info.path, isExpress: typeof info.request.get };
            return `custom ${info.route}`;
          },
          onStart: (span, req) => {
            seen.onStart = req.originalUrl;
            span.setTag('from.onStart', req.get('x-tenant'));
          },
          onFinish: (span, req, res) => {
            seen.onFinish = [req.params, res.statusCode, typeof res.locals];
          },
        },
        '/orgs/acme/users/7',
        { 'x-tenant': 'acme' },
      );
      expect(spans[0]!.operationName).toBe('custom /orgs/:orgId/users/:id');
      expect(spans[0]!.tags['from.onStart']).toBe('acme');
      expect(seen).toEqual({
        info: { method: 'GET', route: '/orgs/:orgId/users/:id', path: '/orgs/acme/users/7', isExpress: 'function' },
        onStart: '/orgs/acme/users/7',
        onFinish: [expect.anything(), 200, 'object'],
      });
    });

    it('survives throwing hooks', async () => {
      const boom = () => {
        throw new Error('hook');
      };
      const { response, body, spans } = await once(
        { onStart: boom, onFinish: boom, operationName: boom, ignore: boom },
        '/users/3',
      );
      expect(response.status).toBe(200);
      expect(JSON.parse(body)).toMatchObject({ id: '3' });
      expect(spans[0]!.operationName).toBe('GET /users/:id');
    });

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
