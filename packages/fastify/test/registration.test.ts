import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Fastify5 from 'fastify';
import Fastify4 from 'fastify4';
import type { FastifyInstance } from 'fastify';
import { installedPatches, uninstallPatches } from '@otinst/core';
import * as namespace from '@otinst/fastify';
import defaultExport, { tracingPlugin } from '@otinst/fastify';
import { recorderTracer } from '../../../test/support/tracers';
import { serverSpan } from './support';

type FastifyFactory = typeof Fastify5;
const majors: [string, FastifyFactory][] = [
  ['fastify 4', Fastify4 as unknown as FastifyFactory],
  ['fastify 5', Fastify5],
];

const t = recorderTracer();

function addRoutes(app: FastifyInstance): void {
  app.register(
    async (api) => {
      api.get('/users/:id', async () => 'ok');
    },
    { prefix: '/api' },
  );
}

it('carries the fastify-plugin metadata itself', () => {
  const meta = tracingPlugin as unknown as Record<symbol, unknown>;
  expect(meta[Symbol.for('skip-override')]).toBe(true);
  expect(meta[Symbol.for('fastify.display-name')]).toBe('@otinst/fastify');
  expect(meta[Symbol.for('plugin-meta')]).toEqual({ name: '@otinst/fastify', fastify: '4.x || 5.x' });
  expect(defaultExport).toBe(tracingPlugin);
});

for (const [major, Fastify] of majors) {
  describe(major, () => {
    let app: FastifyInstance;
    beforeEach(() => {
      t.reset();
      app = Fastify();
    });
    afterEach(async () => {
      await app.close();
      uninstallPatches();
    });

    it('works registered without await, before the routes', async () => {
      void app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false });
      addRoutes(app);
      await app.inject('/api/users/1');
      expect(serverSpan(t).operationName).toBe('GET /api/users/:id');
    });

    it('works registered after the routes, and from inside a plugin that registered them', async () => {
      addRoutes(app);
      await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false });
      await app.inject('/api/users/1');
      expect(serverSpan(t).operationName).toBe('GET /api/users/:id');
    });

    it('registers as the module namespace and as the default export (ESM and CJS interop)', async () => {
      await app.register(namespace as never, { tracer: t.tracer, clientHooks: false });
      addRoutes(app);
      await app.inject('/api/users/1');
      expect(serverSpan(t).operationName).toBe('GET /api/users/:id');
      const other = Fastify();
      await other.register(defaultExport, { tracer: t.tracer, clientHooks: false });
      other.get('/x', async () => 'x');
      t.reset();
      await other.inject('/x');
      expect(serverSpan(t).operationName).toBe('GET /x');
      await other.close();
    });

    it('is not encapsulated: its hooks reach the routes of the scope it was registered in', async () => {
      await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false });
      app.get('/root', async () => 'root');
      await app.inject('/root');
      expect(serverSpan(t).operationName).toBe('GET /root');
    });

    it('traces only its scope when registered inside an encapsulated plugin', async () => {
      app.register(
        async (scope) => {
          await scope.register(tracingPlugin, { tracer: t.tracer, clientHooks: false });
          scope.get('/users/:id', async () => 'traced');
        },
        { prefix: '/api' },
      );
      app.get('/outside', async () => 'not traced');
      await app.inject('/outside');
      await app.inject('/api/users/1');
      expect(t.tracer.spans().map((span) => span.operationName)).toEqual(['GET /api/users/:id']);
    });

    it('makes one span per request when registered twice, also again in a child scope', async () => {
      await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false });
      await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: false });
      app.register(
        async (api) => {
          await api.register(tracingPlugin, { tracer: t.tracer, clientHooks: false });
          api.get('/users/:id', async () => 'ok');
        },
        { prefix: '/api' },
      );
      await app.inject('/api/users/1');
      expect(t.tracer.spans()).toHaveLength(1);
      expect(t.tracer.spans()[0]!.finishCount).toBe(1);
    });

    it('accepts the options fastify itself reads (prefix, logLevel)', async () => {
      await app.register(tracingPlugin, {
        tracer: t.tracer,
        clientHooks: false,
        prefix: '/ignored',
        logLevel: 'warn',
      } as never);
      addRoutes(app);
      await app.inject('/api/users/1');
      expect(serverSpan(t).operationName).toBe('GET /api/users/:id');
    });

    it('installs every client hook by default, and only the listed ones when asked', async () => {
      await app.register(tracingPlugin, { tracer: t.tracer });
      expect(installedPatches()).toEqual(expect.arrayContaining(['http', 'fetch']));
      uninstallPatches();
      const other = Fastify();
      await other.register(tracingPlugin, { tracer: t.tracer, clientHooks: ['fetch'] });
      expect(installedPatches()).toEqual(['fetch']);
      await other.close();
    });

    it.each([
      [{ ignore: 42 }, /^@otinst\/fastify: ignore must be/],
      [{ ignore: ['health'] }, /^@otinst\/fastify: ignore entries must be/],
      [{ onStart: 'yes' }, /^@otinst\/fastify: onStart must be a function/],
      [{ captureRequestHeaders: 'authorization' }, /^@otinst\/fastify: captureRequestHeaders must be/],
      [{ clientHooks: ['nope'] }, /^@otinst\/fastify: clientHooks: unknown hook "nope"/],
      [{ tracer: {} }, /^@otinst\/fastify: tracer must be/],
      [{ tracr: t.tracer }, /^@otinst\/fastify: unknown option "tracr"/],
    ])('rejects %j at registration with a TypeError naming the option', async (options, message) => {
      const error = await app.register(tracingPlugin, options as never).then(
        () => null,
        (error: unknown) => error,
      );
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(message);
    });

    it('reports bad options from ready() when registered without await', async () => {
      void app.register(tracingPlugin, { ignore: 42 } as never);
      await expect(app.ready()).rejects.toThrow(/@otinst\/fastify: ignore must be/);
    });
  });
}
