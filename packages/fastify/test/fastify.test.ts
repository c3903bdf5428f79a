import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Fastify5 from 'fastify';
import Fastify4 from 'fastify4';
import type { FastifyInstance } from 'fastify';
import { getCurrentSpan, isTracingSuppressed, startChildSpan } from '@otinst/core';
import { tracingPlugin, type FastifyTracingOptions } from '@otinst/fastify';
import { allTracers } from '../../../test/support/tracers';
import {
  abortBeforeResponse,
  baseUrl,
  deferred,
  expectErrorLog,
  getUntilClosed,
  postWithLateBody,
  serverSpan,
  spanNamed,
} from './support';

type FastifyFactory = typeof Fastify5;
const majors: [string, FastifyFactory][] = [
  ['fastify 4', Fastify4 as unknown as FastifyFactory],
  ['fastify 5', Fastify5],
];

const boom = new Error('boom');
const rejected = new TypeError('rejected later');

/** Marks the current span, so the finished server span shows which steps saw it as current. */
function mark(step: string): void {
  getCurrentSpan()?.setTag(`seen.${step}`, true);
}

/**
 * A small app with every kind of route the naming has to get right: root,
 * a prefixed plugin, a nested prefixed plugin, an encapsulated plugin without
 * prefix, error routes and a user hook at each lifecycle step.
 */
function routes(app: FastifyInstance): void {
  app.addHook('onRequest', async () => mark('onRequest'));
  app.addHook('preParsing', async () => mark('preParsing'));
  app.addHook('preValidation', async () => mark('preValidation'));
  app.addHook('preHandler', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    mark('preHandler');
  });
  app.addHook('onSend', async () => mark('onSend'));
  app.addHook('onResponse', async () => mark('onResponse'));
  app.get('/', async () => 'root');
  app.register(
    async (api) => {
      api.get<{ Params: { id: string } }>('/users/:id', async (request) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        mark('handler');
        startChildSpan('load user').finish();
        return { id: request.params.id };
      });
      api.post('/users', async (request, reply) => reply.code(201).send(request.body));
      api.get('/throw', () => {
        throw boom;
      });
      api.get('/reject', async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        throw rejected;
      });
      api.get('/send-error', (_request, reply) => {
        reply.send(boom);
      });
      api.get('/unavailable', async (_request, reply) => reply.code(503).send({ retry: true }));
      api.get('/missing', async () => {
        throw Object.assign(new Error('no such thing'), { statusCode: 404 });
      });
      api.get('/validated', { schema: { querystring: { type: 'object', required: ['q'] } } }, async () => 'ok');
      api.register(
        async (v2) => {
          v2.get('/items/:itemId', async () => ({ v: 2 }));
          v2.setErrorHandler(async (error, _request, reply) => {
            mark('errorHandler');
            return reply.code(502).send({ wrapped: (error as Error).message });
          });
          v2.get('/fails', async () => {
            throw boom;
          });
        },
        { prefix: '/v2' },
      );
    },
    { prefix: '/api' },
  );
  app.register(async (plain) => {
    plain.get('/health', async () => 'ok');
    plain.get('/internal/metrics', async () => 'metrics');
  });
}

for (const [major, Fastify] of majors) {
  describe(major, () => {
    for (const t of allTracers()) {
      describe(`with the ${t.name} tracer`, () => {
        let app: FastifyInstance;

        async function build(
          options: FastifyTracingOptions = {},
          extra?: (app: FastifyInstance) => void,
        ): Promise<FastifyInstance> {
          app = Fastify();
          await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, ...options });
          routes(app);
          extra?.(app);
          await app.ready();
          return app;
        }

        beforeEach(() => t.reset());
        afterEach(async () => {
          await app?.close();
        });

        it('names spans `<METHOD> <route template>` with every prefix, and the method alone for 404s', async () => {
          await build();
          const cases: [string, string, string][] = [
            ['GET', '/', 'GET /'],
            ['GET', '/api/users/42?expand=1', 'GET /api/users/:id'],
            ['POST', '/api/users', 'POST /api/users'],
            ['GET', '/api/v2/items/7', 'GET /api/v2/items/:itemId'],
            ['GET', '/health', 'GET /health'],
            ['GET', '/api/nope', 'GET'],
            ['DELETE', '/api/users/42', 'DELETE'],
          ];
          for (const [method, url, name] of cases) {
            t.reset();
            await app.inject({ method: method as 'GET', url, payload: method === 'POST' ? { a: 1 } : undefined });
            expect(serverSpan(t).operationName, `${method} ${url}`).toBe(name);
          }
        });

        it('tags the server span (kind, component, method, url, status, route, peer)', async () => {
          await build();
          const response = await app.inject({ method: 'GET', url: '/api/users/42?expand=1' });
          expect(response.statusCode).toBe(200);
          const span = serverSpan(t);
          expect(span.tags).toMatchObject({
            'span.kind': 'server',
            component: 'fastify',
            'http.method': 'GET',
            'http.url': 'http://localhost:80/api/users/42?expand=1',
            'http.status_code': 200,
            'http.route': '/api/users/:id',
            'peer.ipv4': '127.0.0.1',
          });
          expect(span.tags['error']).toBeUndefined();
          expect(span.tags['http.aborted']).toBeUndefined();
          expect(span.logs).toEqual([]);

          t.reset();
          await app.inject({ method: 'GET', url: '/api/nope' });
          const notFound = serverSpan(t);
          expect(notFound.tags['http.status_code']).toBe(404);
          expect(notFound.tags).not.toHaveProperty('http.route');
          expect(notFound.tags['error']).toBeUndefined();
        });

        it('tags the status actually sent: reply.code, 4xx errors and validation are not errors', async () => {
          await build();
          const expectations: [string, number][] = [
            ['/api/users', 201],
            ['/api/missing', 404],
            ['/api/validated', 400],
          ];
          for (const [url, status] of expectations) {
            t.reset();
            const response = await app.inject({ method: url === '/api/users' ? 'POST' : 'GET', url, payload: {} });
            expect(response.statusCode).toBe(status);
            const span = serverSpan(t);
            expect(span.tags['http.status_code']).toBe(status);
            expect(span.tags['error']).toBeUndefined();
            expect(span.logs).toEqual([]);
          }
        });

        it('records a thrown, rejected or sent error once, with the fields OpenTracing asks for', async () => {
          await build();
          for (const [url, error] of [
            ['/api/throw', boom],
            ['/api/reject', rejected],
            ['/api/send-error', boom],
          ] as const) {
            t.reset();
            const response = await app.inject(url);
            expect(response.statusCode, url).toBe(500);
            const span = serverSpan(t);
            expect(span.tags['http.status_code']).toBe(500);
            expectErrorLog(t, span, error);
          }
        });

        it("records the error once when the plugin's error handler answers with its own status", async () => {
          await build();
          const response = await app.inject('/api/v2/fails');
          expect(response.statusCode).toBe(502);
          expect(response.json()).toEqual({ wrapped: 'boom' });
          const span = serverSpan(t);
          expect(span.operationName).toBe('GET /api/v2/fails');
          expect(span.tags['http.status_code']).toBe(502);
          expect(span.tags['seen.errorHandler']).toBe(true);
          expectErrorLog(t, span, boom);
        });

        it('keeps the server span current in every hook, the handler, the error handler and awaited code', async () => {
          await build();
          await app.inject({ method: 'POST', url: '/api/users', payload: { name: 'ada' } });
          expect(serverSpan(t).tags).toMatchObject({
            'seen.onRequest': true,
            'seen.preParsing': true,
            'seen.preValidation': true,
            'seen.preHandler': true,
            'seen.onSend': true,
            'seen.onResponse': true,
          });
          t.reset();
          await app.inject('/api/users/3');
          expect(spanNamed(t, 'GET /api/users/:id').tags['seen.handler']).toBe(true);
        });

        it('ignores paths, patterns and predicates: no span, tracing suppressed downstream', async () => {
          let suppressed: boolean | undefined;
          await build({ ignore: ['/health', /^\/internal\//] }, (app) =>
            app.addHook('onResponse', async () => {
              suppressed ??= isTracingSuppressed();
            }),
          );
          await app.inject('/health');
          await app.inject('/internal/metrics');
          expect(t.spans()).toEqual([]);
          expect(suppressed).toBe(true);
          await app.inject('/api/users/1');
          expect(t.spans().map((span) => span.operationName)).toEqual(['load user', 'GET /api/users/:id']);
          await app.close();

          t.reset();
          await build({ ignore: (request) => request.headers['x-synthetic'] === '1' });
          await app.inject({ url: '/api/users/1', headers: { 'x-synthetic': '1' } });
          expect(t.spans()).toEqual([]);
          await app.inject({ url: '/api/users/1' });
          expect(t.spans()).toHaveLength(2);
        });

        it('captures only the listed headers, credentials redacted unless allowed', async () => {
          await build(
            {
              captureRequestHeaders: ['X-Request-Id', 'authorization', 'x-absent'],
              captureResponseHeaders: ['content-type', 'set-cookie'],
            },
            (app) => app.get('/cookie', async (_request, reply) => reply.header('set-cookie', 'sid=1').send('ok')),
          );
          await app.inject({
            url: '/cookie',
            headers: { 'x-request-id': 'r-1', authorization: 'Bearer secret', 'x-other': 'no' },
          });
          const tags = serverSpan(t).tags;
          expect(tags['http.request.header.x-request-id']).toBe('r-1');
          expect(tags['http.request.header.authorization']).toBe('[REDACTED]');
          expect(tags['http.response.header.set-cookie']).toBe('[REDACTED]');
          expect(tags['http.response.header.content-type']).toBe('text/plain; charset=utf-8');
          expect(Object.keys(tags).filter((key) => key.startsWith('http.request.header.'))).toHaveLength(2);
          await app.close();

          t.reset();
          await build({ captureRequestHeaders: ['authorization'], allowSensitiveHeaders: ['Authorization'] });
          await app.inject({ url: '/', headers: { authorization: 'Bearer secret' } });
          expect(serverSpan(t).tags['http.request.header.authorization']).toBe('Bearer secret');
        });

        it('gives the user hooks the native request and reply, and the route to operationName', async () => {
          const seen: Record<string, unknown> = {};
          await build({
            operationName: ({ method, route, path, request }) => {
              seen['info'] = { method, route, path, id: request.id };
              return `${method} ${route ?? '(none)'} custom`;
            },
            onStart: (span, request) => {
              seen['startRoute'] = request.routeOptions.url;
              span.setTag('tenant', request.headers['x-tenant']);
            },
            onFinish: (span, request, reply) => {
              seen['finishStatus'] = reply.statusCode;
              span.setTag('request.id', request.id);
            },
          });
          await app.inject({ url: '/api/v2/items/9?x=1', headers: { 'x-tenant': 'acme' } });
          const span = serverSpan(t);
          expect(span.operationName).toBe('GET /api/v2/items/:itemId custom');
          expect(span.tags['tenant']).toBe('acme');
          expect(seen).toMatchObject({
            info: { method: 'GET', route: '/api/v2/items/:itemId', path: '/api/v2/items/9' },
            startRoute: '/api/v2/items/:itemId',
            finishStatus: 200,
          });
          expect(span.tags['request.id']).toBe((seen['info'] as { id: string }).id);
        });

        it('finishes after a hijacked reply, when the handler ends the Node response itself', async () => {
          const finished = deferred();
          await build({ onFinish: () => finished.resolve() }, (app) =>
            app.get('/raw', (_request, reply) => {
              reply.hijack();
              setTimeout(() => {
                reply.raw.writeHead(207, { 'content-type': 'text/plain' });
                reply.raw.end('by hand');
              }, 5);
            }),
          );
          await app.listen({ port: 0, host: '127.0.0.1' });
          const response = await fetch(`${baseUrl(app.server)}/raw`);
          expect(await response.text()).toBe('by hand');
          await finished.promise;
          const span = serverSpan(t);
          expect(span.operationName).toBe('GET /raw');
          expect(span.tags['http.status_code']).toBe(207);
          expect(span.tags['http.aborted']).toBeUndefined();
        });

        describe('over a real socket', () => {
          it('keeps the context when the body arrives in a later packet', async () => {
            await build();
            await app.listen({ port: 0, host: '127.0.0.1' });
            const response = await postWithLateBody(`${baseUrl(app.server)}/api/users`, { late: true });
            expect(response).toEqual({ status: 201, body: '{"late":true}' });
            expect(serverSpan(t).tags).toMatchObject({ 'seen.preValidation': true, 'seen.preHandler': true });
          });

          it('finishes once without a status when the client leaves before the response', async () => {
            const finished = deferred();
            const started = deferred();
            const late = deferred();
            await build({ onFinish: () => finished.resolve() }, (app) =>
              app.get('/slow', async (request) => {
                started.resolve();
                await new Promise((resolve) => request.raw.once('close', resolve));
                late.resolve();
                return 'too late';
              }),
            );
            await app.listen({ port: 0, host: '127.0.0.1' });
            await abortBeforeResponse(`${baseUrl(app.server)}/slow`, started.promise);
            await finished.promise;
            await late.promise;
            await app.close();
            const span = serverSpan(t);
            expect(span.operationName).toBe('GET /slow');
            expect(span.tags['http.aborted']).toBe(true);
            expect(span.tags).not.toHaveProperty('http.status_code');
          });

          it('finishes once when a stream fails mid-response', async () => {
            const finished = deferred();
            await build({ onFinish: () => finished.resolve() }, (app) =>
              app.get('/broken-stream', (_request, reply) => {
                const body = new Readable({ read() {} });
                body.push('partial ');
                setTimeout(() => body.destroy(new Error('disk gone')), 5);
                return reply.send(body);
              }),
            );
            await app.listen({ port: 0, host: '127.0.0.1' });
            await getUntilClosed(`${baseUrl(app.server)}/broken-stream`);
            await finished.promise;
            await app.close();
            const span = serverSpan(t);
            expect(span.tags['http.status_code']).toBe(200);
            expect(span.tags['http.aborted']).toBe(true);
          });
        });
      });
    }
  });
}
