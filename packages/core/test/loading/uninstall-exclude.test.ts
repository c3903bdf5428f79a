import http from 'node:http';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  configure,
  getConfig,
  installedPatches,
  installPatches,
  resetConfig,
  runWithSpan,
  uninstallPatches,
} from '@otinst/core';
import { setupTracing } from '@otinst/core/adapter';
import { RecordingTracer } from '@otinst/recorder';
import { excludedPatches } from '../../src/hooks/registry';
import { originalOf } from '../../src/hooks/wrap';
import { collect, startEchoServer, type EchoServer } from '../hooks/http-support';

/**
 * The registry owns on/off (issues 11, 14, 15): uninstall under another
 * tool's wrapper leaves otinst inert and a re-install adds no second layer;
 * `uninstallPatches(names)` removes only those; `clientHooks: { exclude }`
 * holds across adapters; `setupTracing` takes the options-object form and
 * makes an explicit tracer the default one.
 */
const require = createRequire(import.meta.url);
const pg = require('pg') as { Client: { prototype: { query: unknown } } };
const tracer = new RecordingTracer({ serviceName: 'loading' });
let server: EchoServer;

beforeAll(async () => {
  server = await startEchoServer();
});
afterEach(() => {
  uninstallPatches();
  resetConfig();
  tracer.reset();
});
afterAll(() => server.close());

/** One GET under a parent span: the client spans it made, and the traceparent the server received. */
async function oneRequest(): Promise<{ clientSpans: string[]; traceparent: string | undefined }> {
  tracer.reset();
  const before = server.seen.length;
  const parent = tracer.startSpan('parent');
  await runWithSpan(parent, () => collect(http.get(`http://127.0.0.1:${server.port}/x`)));
  parent.finish();
  const traceparent = server.seen[before]?.headers['traceparent'];
  return {
    clientSpans: tracer
      .spans()
      .filter((span) => span.operationName !== 'parent')
      .map((span) => span.operationName),
    traceparent: typeof traceparent === 'string' ? traceparent : undefined,
  };
}

/** How many otinst layers sit between `fn` and the original (following foreign wrappers that keep a `next`). */
function layersOf(fn: unknown): number {
  let layers = 0;
  for (let current = fn as { next?: unknown }; typeof current === 'function';) {
    const inner = originalOf(current);
    if (inner !== current) {
      layers++;
      current = inner as { next?: unknown };
    } else {
      current = current.next as { next?: unknown };
    }
  }
  return layers;
}

describe('uninstallPatches under a foreign wrapper', () => {
  it('uninstall after another tool wrapped http.request: no span, no trace header; re-install: one layer, one span', async () => {
    const original = http.request;
    const originalGet = http.get;
    installPatches(['http']);
    expect((await oneRequest()).clientSpans).toEqual(['GET']);
    // another tool wraps after otinst (as shimmer does), keeping a reference to what it wrapped
    const ours = http.request;
    const foreign = Object.assign(
      function foreignRequest(this: unknown, ...args: unknown[]) {
        return (ours as (...a: unknown[]) => http.ClientRequest).apply(this, args);
      },
      { next: ours },
    );
    http.request = foreign as unknown as typeof http.request;
    http.get = function foreignGet(this: unknown, ...args: unknown[]) {
      const request = (http.request as (...a: unknown[]) => http.ClientRequest).apply(this, args);
      request.end();
      return request;
    } as typeof http.get;

    uninstallPatches();
    expect(http.request).toBe(foreign); // theirs stays
    const after = await oneRequest();
    expect(after.clientSpans).toEqual([]);
    expect(after.traceparent).toBeUndefined();

    installPatches(['http']);
    expect(http.request).toBe(foreign);
    expect(layersOf(http.request)).toBe(1);
    const again = await oneRequest();
    expect(again.clientSpans).toEqual(['GET']);
    expect(again.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);

    uninstallPatches();
    expect((await oneRequest()).clientSpans).toEqual([]);
    http.request = original;
    http.get = originalGet;
  });
});

describe('uninstallPatches(names)', () => {
  it('removes only the named hooks', async () => {
    const originalQuery = pg.Client.prototype.query;
    installPatches(['http', 'pg']);
    expect(pg.Client.prototype.query).not.toBe(originalQuery);
    uninstallPatches(['pg']);
    expect(pg.Client.prototype.query).toBe(originalQuery);
    expect(installedPatches()).toEqual(['http']);
    expect((await oneRequest()).clientSpans).toEqual(['GET']);
  });

  it('throws a TypeError naming the valid hooks for an unknown name, and changes nothing', () => {
    installPatches(['http']);
    expect(() => uninstallPatches(['nope' as never])).toThrow(/unknown client hook "nope"; valid names are http/);
    expect(installedPatches()).toEqual(['http']);
  });
});

describe('clientHooks: { exclude }', () => {
  it('installs every hook but the excluded ones, and a later adapter with defaults does not reinstall them', async () => {
    const originalQuery = pg.Client.prototype.query;
    setupTracing('@otinst/test', 'test', { clientHooks: { exclude: ['pg', 'http'] } });
    expect(installedPatches()).not.toContain('pg');
    expect(installedPatches()).toContain('fetch');
    expect(excludedPatches().sort()).toEqual(['http', 'pg']);
    expect(pg.Client.prototype.query).toBe(originalQuery);
    setupTracing('@otinst/test', 'test', {});
    setupTracing('@otinst/test', 'test', { clientHooks: ['http', 'pg'] });
    expect(installedPatches()).not.toContain('pg');
    expect(installedPatches()).not.toContain('http');
    expect(pg.Client.prototype.query).toBe(originalQuery);
    expect((await oneRequest()).clientSpans).toEqual([]);
    // an explicit installPatches call lifts the exclusion
    installPatches(['http']);
    expect(excludedPatches()).toEqual(['pg']);
    expect((await oneRequest()).clientSpans).toEqual(['GET']);
    installPatches(['pg']);
  });

  it('turns an installed hook off when an adapter excludes it', async () => {
    setupTracing('@otinst/test', 'test', {});
    expect((await oneRequest()).clientSpans).toEqual(['GET']);
    setupTracing('@otinst/test', 'test', { clientHooks: { exclude: ['http'] } });
    expect((await oneRequest()).clientSpans).toEqual([]);
    installPatches(['http']);
  });

  it.each([
    [{ exclude: ['nope'] }, /@otinst\/test: clientHooks.exclude: unknown hook "nope"; valid names are http/],
    [{ exclude: 'pg' }, /@otinst\/test: clientHooks.exclude must be an array of hook names/],
    [{ include: ['pg'] }, /@otinst\/test: clientHooks: unknown key "include"/],
    [{}, /@otinst\/test: clientHooks.exclude must be an array/],
    ['pg', /@otinst\/test: clientHooks must be true, false or an array of hook names, or \{ exclude/],
    [['pg', 'nope'], /@otinst\/test: clientHooks: unknown hook "nope"/],
  ])('rejects clientHooks %j with a TypeError naming the package', (clientHooks, message) => {
    expect(() => setupTracing('@otinst/test', 'test', { clientHooks: clientHooks as never })).toThrow(TypeError);
    expect(() => setupTracing('@otinst/test', 'test', { clientHooks: clientHooks as never })).toThrow(message);
    expect(installedPatches()).toEqual([]);
  });
});

describe('setupTracing: (tracer, options), (options), and the one tracer rule', () => {
  const other = new RecordingTracer({ serviceName: 'other' });

  it('accepts the options-object form, with the tracer inside', () => {
    const resolved = setupTracing('@otinst/test', 'test', { tracer, clientHooks: false, ignore: ['/health'] });
    expect(resolved.tracer).toBe(tracer);
    expect(resolved.isIgnored?.('/health', {})).toBe(true);
  });

  it('accepts (tracer, options) and the older (options, tracer); a tracer argument wins over the option', () => {
    expect(setupTracing('@otinst/test', 'test', tracer, { clientHooks: false }).tracer).toBe(tracer);
    expect(setupTracing('@otinst/test', 'test', { clientHooks: false }, tracer).tracer).toBe(tracer);
    expect(setupTracing('@otinst/test', 'test', tracer, { tracer: other, clientHooks: false }).tracer).toBe(tracer);
    expect(setupTracing('@otinst/test', 'test', tracer).tracer).toBe(tracer);
    expect(setupTracing('@otinst/test', 'test').tracer).toBeUndefined();
  });

  it('throws a clear TypeError for two options objects, or a first argument that is neither', () => {
    expect(() => setupTracing('@otinst/test', 'test', { clientHooks: false }, { ignore: [] })).toThrow(
      /@otinst\/test: got two options objects: pass \(tracer, options\) or \(\{ tracer, \.\.\.options \}\)/,
    );
    expect(() => setupTracing('@otinst/test', 'test', 'tracer' as never)).toThrow(
      /@otinst\/test: the first argument must be an OpenTracing Tracer or an options object/,
    );
    expect(() => setupTracing('@otinst/test', 'test', { tracer: {} as never })).toThrow(
      /tracer must be an OpenTracing/,
    );
    // an object with some of a tracer's methods is a broken tracer, not an options object
    expect(() => setupTracing('@otinst/test', 'test', { startSpan() {} } as never)).toThrow(
      /^@otinst\/test: tracer must be an OpenTracing Tracer/,
    );
    expect(() => setupTracing('@otinst/test', 'test', { clientHooks: false }, { inject() {} } as never)).toThrow(
      /^@otinst\/test: tracer must be an OpenTracing Tracer/,
    );
  });

  it('makes the first explicit tracer the configured one; a second adapter with another tracer does not override it', () => {
    expect(getConfig().tracer).toBeUndefined();
    setupTracing('@otinst/test', 'test', { clientHooks: false });
    expect(getConfig().tracer).toBeUndefined();
    setupTracing('@otinst/test', 'test', { tracer, clientHooks: false });
    expect(getConfig().tracer).toBe(tracer);
    setupTracing('@otinst/test', 'test', other, { clientHooks: false });
    expect(getConfig().tracer).toBe(tracer);
  });

  it('leaves a tracer set by configure() alone', () => {
    configure({ tracer: other });
    setupTracing('@otinst/test', 'test', tracer, { clientHooks: false });
    expect(getConfig().tracer).toBe(other);
  });
});
