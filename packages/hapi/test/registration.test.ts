import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Hapi from '@hapi/hapi';
import type { Server } from '@hapi/hapi';
import { installedPatches, uninstallPatches } from '@otinst/core';
import * as namespace from '@otinst/hapi';
import defaultExport, { tracingPlugin } from '@otinst/hapi';
import { recorderTracer } from '../../../test/support/tracers';
import { serverSpan } from './support';

const t = recorderTracer();
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function addRoute(server: Server): void {
  server.route({ method: 'GET', path: '/users/{id}', handler: () => 'ok' });
}

describe('registration', () => {
  let server: Server;
  beforeEach(() => {
    t.reset();
    server = Hapi.server();
  });
  afterEach(async () => {
    await server.stop();
    uninstallPatches();
  });

  it('is a named, versioned plugin, also the default export and the `plugin` export', () => {
    expect(tracingPlugin).toMatchObject({ name: '@otinst/hapi', version, once: true });
    expect(defaultExport).toBe(tracingPlugin);
    expect(namespace.plugin).toBe(tracingPlugin);
  });

  it('registers as the module itself, the way hapi plugin modules are required', async () => {
    await server.register({ plugin: namespace, options: { tracer: t.tracer, clientHooks: false } });
    addRoute(server);
    await server.inject('/users/1');
    expect(serverSpan(t).operationName).toBe('GET /users/{id}');
    expect((server.registrations as Record<string, unknown>)['@otinst/hapi']).toMatchObject({
      name: '@otinst/hapi',
      version,
    });
  });

  it('makes one span per request when registered twice (once), the first options winning', async () => {
    const other = recorderTracer();
    await server.register({ plugin: tracingPlugin, options: { tracer: t.tracer, clientHooks: false } });
    await server.register({ plugin: tracingPlugin, options: { tracer: other.tracer, clientHooks: false } });
    await server.register({
      plugin: {
        name: 'api',
        async register(api: Server) {
          await api.register({ plugin: tracingPlugin, options: { tracer: other.tracer } });
          addRoute(api);
        },
      },
      routes: { prefix: '/api' },
    });
    await server.inject('/api/users/1');
    expect(t.tracer.spans().map((span) => [span.operationName, span.finishCount])).toEqual([
      ['GET /api/users/{id}', 1],
    ]);
    expect(other.tracer.spans()).toEqual([]);
  });

  it('traces one server per registration', async () => {
    const other = Hapi.server();
    const otherTracer = recorderTracer();
    await server.register({ plugin: tracingPlugin, options: { tracer: t.tracer, clientHooks: false } });
    await other.register({ plugin: tracingPlugin, options: { tracer: otherTracer.tracer, clientHooks: false } });
    addRoute(server);
    other.route({ method: 'GET', path: '/other', handler: () => 'other' });
    await server.inject('/users/1');
    await other.inject('/other');
    expect(t.tracer.spans().map((span) => span.operationName)).toEqual(['GET /users/{id}']);
    expect(otherTracer.tracer.spans().map((span) => span.operationName)).toEqual(['GET /other']);
  });

  it('installs every client hook by default, and only the listed ones when asked', async () => {
    await server.register({ plugin: tracingPlugin, options: { tracer: t.tracer } });
    expect(installedPatches()).toEqual(expect.arrayContaining(['http', 'fetch']));
    uninstallPatches();
    const other = Hapi.server();
    await other.register({ plugin: tracingPlugin, options: { tracer: t.tracer, clientHooks: ['fetch'] } });
    expect(installedPatches()).toEqual(['fetch']);
  });

  it.each([
    [{ ignore: 42 }, /^@otinst\/hapi: ignore must be/],
    [{ ignore: ['health'] }, /^@otinst\/hapi: ignore entries must be/],
    [{ onFinish: 'yes' }, /^@otinst\/hapi: onFinish must be a function/],
    [{ captureResponseHeaders: [1] }, /^@otinst\/hapi: captureResponseHeaders must be/],
    [{ clientHooks: ['nope'] }, /^@otinst\/hapi: clientHooks: unknown hook "nope"/],
    [{ tracer: {} }, /^@otinst\/hapi: tracer must be/],
    [{ tracr: t.tracer }, /^@otinst\/hapi: unknown option "tracr"/],
  ])('rejects %j at registration with a TypeError naming the option', async (options, message) => {
    const error = await server.register({ plugin: tracingPlugin, options: options as never }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(message);
  });
});
