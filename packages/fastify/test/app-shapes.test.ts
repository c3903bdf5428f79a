/**
 * App shapes the main suite does not cover (issue 11): replies fastify sends
 * before any hook runs, and the plugin registered twice. Real servers, real
 * sockets: fastify's early replies never reach `inject`.
 */
import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Fastify5 from 'fastify';
import Fastify4 from 'fastify4';
import type { FastifyInstance } from 'fastify';
import { uninstallPatches } from '@otinst/core';
import { tracingPlugin } from '@otinst/fastify';
import { recorderTracer } from '../../../test/support/tracers';
import { baseUrl, serverSpan } from './support';

type FastifyFactory = typeof Fastify5;
const majors: [string, FastifyFactory, number][] = [
  ['fastify 4', Fastify4 as unknown as FastifyFactory, 4],
  ['fastify 5', Fastify5, 5],
];

const t = recorderTracer();

/** Resolves after `count` spans were finished (`onFinish` runs just before the tracer's finish). */
function finishes(count: number): { onFinish: () => void; done: Promise<void> } {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  let seen = 0;
  return {
    onFinish: () => {
      if (++seen === count) setImmediate(resolve);
    },
    done,
  };
}

/** A raw GET (the path as given, no normalisation); resolves with the status once the body is read. */
function rawGet(base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(base + path, { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode!));
    });
    request.on('error', reject);
  });
}

for (const [major, Fastify, version] of majors) {
  describe(major, () => {
    let app: FastifyInstance;
    beforeEach(() => t.reset());
    afterEach(async () => {
      await app.close();
      uninstallPatches();
    });

    describe('replies fastify sends before any hook (fastify answered early: no span before)', () => {
      async function start(onFinish: () => void, serverOptions: Record<string, unknown> = {}): Promise<string> {
        app = Fastify(serverOptions);
        await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish });
        app.get('/users/:id', async () => 'ok');
        await app.listen({ port: 0, host: '127.0.0.1' });
        return baseUrl(app.server);
      }

      it('records a bad % sequence (400) as one span named by the method', async () => {
        const seen = finishes(1);
        const base = await start(seen.onFinish);
        expect(await rawGet(base, '/users/%E0%A4%A')).toBe(400);
        await seen.done;
        const span = serverSpan(t);
        expect(span.operationName).toBe('GET');
        expect(span.tags).toMatchObject({ 'http.status_code': 400, 'http.method': 'GET', 'span.kind': 'server' });
        expect(span.tags['http.url']).toBe(`${base}/users/%E0%A4%A`);
        expect(span.tags).not.toHaveProperty('http.aborted');
        expect(span.tags).not.toHaveProperty('error');
      });

      it('records a too-long parameter (maxParamLength) as one span', async () => {
        const seen = finishes(1);
        const base = await start(
          seen.onFinish,
          version === 5 ? { routerOptions: { maxParamLength: 10 } } : { maxParamLength: 10 },
        );
        const status = await rawGet(base, `/users/${'x'.repeat(40)}`);
        // fastify 5 answers 414 from the router; fastify 4's router finds no route (404, hooks run)
        expect(status).toBe(version === 5 ? 414 : 404);
        await seen.done;
        const span = serverSpan(t);
        expect(span.operationName).toBe('GET');
        expect(span.tags['http.status_code']).toBe(status);
      });

      it('records the reply of a frameworkErrors handler once', async () => {
        const seen = finishes(1);
        const base = await start(seen.onFinish, {
          frameworkErrors: (
            _error: Error,
            _request: unknown,
            reply: { code(n: number): { send(body: string): void } },
          ) => reply.code(422).send('bad url'),
        });
        expect(await rawGet(base, '/users/%E0%A4%A')).toBe(422);
        await seen.done;
        const span = serverSpan(t);
        expect(span.operationName).toBe('GET');
        expect(span.tags['http.status_code']).toBe(422);
      });

      it('still records one span, with the route, for an ordinary request and an ignored one none', async () => {
        const seen = finishes(1);
        app = Fastify();
        await app.register(tracingPlugin, {
          tracer: t.tracer,
          clientHooks: false,
          onFinish: seen.onFinish,
          ignore: ['/health'],
        });
        app.get('/users/:id', async () => 'ok');
        app.get('/health', async () => 'ok');
        await app.listen({ port: 0, host: '127.0.0.1' });
        const base = baseUrl(app.server);
        expect(await rawGet(base, '/health')).toBe(200);
        expect(await rawGet(base, '/users/1')).toBe(200);
        await seen.done;
        expect(serverSpan(t).operationName).toBe('GET /users/:id');
      });
    });

    it('registered inside an encapsulated plugin only, traces no request outside it', async () => {
      const seen = finishes(1);
      app = Fastify();
      await app.register(
        async (child) => {
          await child.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish: seen.onFinish });
          child.get('/users/:id', async () => 'child');
        },
        { prefix: '/api' },
      );
      app.get('/outside', async () => 'outside');
      app.get('/sync-outside', (_request, reply) => void reply.send('sync'));
      await app.listen({ port: 0, host: '127.0.0.1' });
      const base = baseUrl(app.server);
      expect(await rawGet(base, '/outside')).toBe(200);
      expect(await rawGet(base, '/sync-outside')).toBe(200);
      expect(await rawGet(base, '/api/users/1')).toBe(200);
      await seen.done;
      expect(serverSpan(t).operationName).toBe('GET /api/users/:id');
    });

    describe('registered twice (one finished span per request, named with the full route)', () => {
      async function check(
        build: (app: FastifyInstance, onFinish: () => void, onStart: () => void) => Promise<void>,
        path: string,
        name: string,
      ) {
        const seen = finishes(1);
        let started = 0;
        const onStart = () => void started++;
        app = Fastify();
        await build(app, seen.onFinish, onStart);
        await app.listen({ port: 0, host: '127.0.0.1' });
        expect(await rawGet(baseUrl(app.server), path)).toBe(200);
        await seen.done;
        // a second span would also be a server span: serverSpan fails unless there is exactly one
        expect(serverSpan(t).operationName).toBe(name);
        expect(t.tracer.spans().every((span) => span.finishCount === 1)).toBe(true);
        // before the fix the second layer started a span too, and the first one was never finished
        expect(started).toBe(1);
      }

      it('in an encapsulated child before the root', async () => {
        await check(
          async (app, onFinish, onStart) => {
            await app.register(
              async (child) => {
                await child.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish, onStart });
                child.get('/users/:id', async () => 'child');
              },
              { prefix: '/api' },
            );
            await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish, onStart });
          },
          '/api/users/1',
          'GET /api/users/:id',
        );
      });

      it('twice in the root', async () => {
        await check(
          async (app, onFinish, onStart) => {
            await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish, onStart });
            await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish, onStart });
            app.register(async (api) => void api.get('/users/:id', async () => 'ok'), { prefix: '/api' });
          },
          '/api/users/1',
          'GET /api/users/:id',
        );
      });

      it('in the root and again in a prefixed child', async () => {
        await check(
          async (app, onFinish, onStart) => {
            await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish, onStart });
            await app.register(
              async (child) => {
                await child.register(tracingPlugin, { tracer: t.tracer, clientHooks: false, onFinish, onStart });
                child.get('/users/:id', async () => 'child');
              },
              { prefix: '/api' },
            );
          },
          '/api/users/1',
          'GET /api/users/:id',
        );
      });
    });
  });
}
