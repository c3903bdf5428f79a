import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installedPatches, installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';

/**
 * An application whose `node_modules` holds redis@4, with `@redis/client` 1.x
 * hoisted beside it (npm's layout), that loads redis before
 * `installPatches(['redis'])`: the hook finds the copy from the application's
 * directory. (The `redis4` alias of this repository is linked in as `redis`.)
 */

const up = await serviceAvailable('redis');
const repoModules = join(import.meta.dirname, '../../../../node_modules');

describe.skipIf(!up)('redis hook in an application using redis@4', () => {
  const app = mkdtempSync(join(tmpdir(), 'otinst-redis4-app-'));
  const cwd = process.cwd();
  mkdirSync(join(app, 'node_modules/@redis'), { recursive: true });
  symlinkSync(join(repoModules, 'redis4'), join(app, 'node_modules/redis'));
  symlinkSync(join(repoModules, 'redis4/node_modules/@redis/client'), join(app, 'node_modules/@redis/client'));

  afterAll(() => {
    uninstallPatches();
    process.chdir(cwd);
    rmSync(app, { recursive: true, force: true });
  });

  it('patches redis@4 loaded before installPatches(["redis"])', async () => {
    const appRequire = createRequire(join(app, 'index.js'));
    const redis = appRequire('redis');
    expect(appRequire('redis/package.json').version).toMatch(/^4\./);
    process.chdir(app);
    installPatches(['redis']);
    expect(installedPatches()).toEqual(['redis']);

    const recorder = recorderTracer();
    const client = redis.createClient({ url: 'redis://127.0.0.1:6379' });
    await client.connect();
    const parent = recorder.tracer.startSpan('request');
    const key = `otinst:${process.pid}:app4`;
    await runWithSpan(parent, async () => {
      await client.set(key, 'v');
      await client.del(key);
    });
    parent.finish();
    await client.quit();
    const spans = recorder.spans();
    expect(spans.map((s) => [s.operationName, s.tags['db.statement'], s.parentId])).toEqual([
      ['redis:SET', `SET ${key} ?`, spans[2]!.spanId],
      ['redis:DEL', `DEL ${key}`, spans[2]!.spanId],
      ['request', undefined, undefined],
    ]);
  });
});
