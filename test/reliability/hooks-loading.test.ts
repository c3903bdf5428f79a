/**
 * What creating an adapter loads (issue 12, API.md "Hooks load nothing"), and
 * two copies of @otinst/core in one app (issue 11). Every case is a real
 * application on disk, in a temporary directory, run in a Node process of its
 * own with the built packages (`npx tsc -b` first).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../support/build';
import { serviceAvailable } from '../support/services';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const temp = mkdtempSync(join(tmpdir(), 'otinst-loading-'));
afterAll(() => {
  if (!process.env.KEEP) rmSync(temp, { recursive: true, force: true });
});

/** Writes `files` (path -> content) and `links` (path -> repository path) under a new folder of `temp`. */
function layout(name: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  const dir = join(temp, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    symlinkSync(join(ROOT, target), join(dir, path), 'dir');
  }
  return dir;
}

/** Runs `script` with this Node from `cwd`; parses the last line of stdout as JSON. */
function run<T>(script: string, cwd: string, args: string[] = [], env: Record<string, string> = {}): Promise<T> {
  assertBuilt(['core', 'recorder', 'express', 'koa'], script);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd, env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${script} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        else resolve({ ...(JSON.parse(stdout.trim().split('\n').pop()!) as object), stderr } as T);
      },
    );
  });
}

/** Every package a client hook watches, planted as a file that records that it ran. */
const WATCHED = [
  'pg',
  'mysql2',
  'redis',
  '@redis/client',
  'ioredis',
  'amqplib',
  '@smithy/core',
  '@smithy/smithy-client',
  '@aws-sdk/lib-storage',
  'bullmq',
  'knex',
  'undici',
];

function planted(marker: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of WATCHED) {
    files[`node_modules/${name}/package.json`] = JSON.stringify({
      name,
      version: '99.0.0',
      main: 'index.js',
      exports: { '.': './index.js', './client': './index.js' },
    });
    files[`node_modules/${name}/index.js`] =
      `require('node:fs').appendFileSync(${JSON.stringify(marker)}, ${JSON.stringify(name + '\n')});\n` +
      'module.exports = { Client: class Client {}, Pool: class Pool {} };\n';
  }
  return files;
}

/** Real libraries that the app has installed (in its node_modules) but never loads. */
const INSTALLED = [...WATCHED.filter((name) => name !== '@smithy/smithy-client'), '@aws-sdk/client-s3'];

/** The app's own links: express and the built adapters and recorder. */
const APP_LINKS = {
  'node_modules/express': 'node_modules/express',
  'node_modules/@otinst/express': 'packages/express',
  'node_modules/@otinst/recorder': 'packages/recorder',
};

/** An express app with the adapter (`clientHooks: true`); prints what the adapter added to require.cache. */
const EXPRESS_APP = `
const http = require('node:http');
const express = require('express');
const { RecordingTracer } = require('@otinst/recorder');
const { tracingMiddleware } = require('@otinst/express');
const before = new Set(Object.keys(require.cache));
const tracer = new RecordingTracer({ serviceName: 'planted' });
const app = express();
app.use(tracingMiddleware(tracer));
const added = Object.keys(require.cache).filter((file) => !before.has(file));
app.get('/x', (req, res) => res.send('ok'));
const server = app.listen(0, '127.0.0.1', () => {
  http.get({ port: server.address().port, host: '127.0.0.1', path: '/x', agent: false }, (res) => {
    res.resume();
    res.on('end', () => server.close(() => {
      console.log(JSON.stringify({ added, spans: tracer.spans().map((span) => span.operationName) }));
    }));
  });
});
`;

/** The same from ESM, with every module Node loads (require and import) listed by a registerHooks load hook. */
const EXPRESS_APP_ESM = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load: (url, context, next) => (loaded.push(url), next(url, context)) });
const { default: express } = await import('express');
const { RecordingTracer } = await import('@otinst/recorder');
const { tracingMiddleware } = await import('@otinst/express');
const before = loaded.length;
express().use(tracingMiddleware(new RecordingTracer({ serviceName: 'esm' })));
const { default: later } = await import('express');
console.log(JSON.stringify({ added: loaded.slice(before), same: later === express }));
`;

describe('hooks load nothing (issue 12)', () => {
  it('never executes a planted package of the working directory or of the app that the app does not load', async () => {
    const marker = join(temp, 'executed.txt');
    const work = layout('planted-work', planted(marker));
    const app = layout('planted-app', { 'app.cjs': EXPRESS_APP, ...planted(marker) }, APP_LINKS);
    const result = await run<{ added: string[]; spans: string[] }>(join(app, 'app.cjs'), work);
    expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '').toBe('');
    expect(result.added).toEqual([]);
    expect(result.spans).toEqual(['GET /x']);
  });

  it('creating the adapter adds nothing to require.cache (an app that loads only express, with every supported library installed)', async () => {
    const installed = Object.fromEntries(INSTALLED.map((name) => [`node_modules/${name}`, `node_modules/${name}`]));
    const app = layout('express-only', { 'app.cjs': EXPRESS_APP }, { ...APP_LINKS, ...installed });
    const result = await run<{ added: string[]; spans: string[] }>(join(app, 'app.cjs'), app);
    expect(result.added).toEqual([]);
    expect(result.spans).toEqual(['GET /x']);
    writeFileSync(join(app, 'app.mjs'), EXPRESS_APP_ESM);
    const esm = await run<{ added: string[]; same: boolean }>(join(app, 'app.mjs'), app);
    expect(esm).toMatchObject({ added: [], same: true });
  });
});

/** An ES-module app: loads pg before or after creating the adapter, through require() or import. */
const PG_APP = `
import http from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const mode = process.argv[2];
const load = async () => (mode.startsWith('require') ? require('pg') : (await import('pg')).default);
let pg = mode.endsWith('before') ? await load() : undefined;
const loadedBefore = Object.keys(require.cache).filter((file) => file.includes('/node_modules/pg/')).length > 0;
const { default: express } = await import('express');
const { RecordingTracer } = await import('@otinst/recorder');
const { tracingMiddleware } = await import('@otinst/express');
const tracer = new RecordingTracer({ serviceName: 'pg-app' });
const app = express();
app.use(tracingMiddleware(tracer));
if (pg === undefined) pg = await load();
app.get('/q', async (req, res) => {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  await client.connect();
  await client.query('SELECT 1 AS one');
  await client.end();
  res.send('ok');
});
const server = app.listen(0, '127.0.0.1', () => {
  http.get({ port: server.address().port, host: '127.0.0.1', path: '/q', agent: false }, (res) => {
    res.resume();
    res.on('end', () => server.close(() => {
      const spans = tracer.spans().map(({ operationName, spanId, parentId, traceId }) => ({ operationName, spanId, parentId, traceId }));
      console.log(JSON.stringify({ loadedBefore, spans }));
    }));
  });
});
`;

const postgres = await serviceAvailable('postgres');

describe.skipIf(!postgres)('a library the app loads is patched, whenever and however it loads it', () => {
  const app = layout('pg-app', { 'app.mjs': PG_APP }, { ...APP_LINKS, 'node_modules/pg': 'node_modules/pg' });

  it.each(['require-before', 'require-after', 'import-before', 'import-after'])('pg, %s the adapter', async (mode) => {
    interface Printed {
      operationName: string;
      spanId: string;
      parentId?: string;
      traceId: string;
    }
    const { loadedBefore, spans } = await run<{ loadedBefore: boolean; spans: Printed[] }>(join(app, 'app.mjs'), app, [
      mode,
    ]);
    expect(loadedBefore).toBe(mode.endsWith('before'));
    const server = spans.find((span) => span.operationName === 'GET /q')!;
    expect(server).toBeDefined();
    const selects = spans.filter((span) => span.operationName === 'pg:SELECT');
    expect(selects).toHaveLength(1);
    expect(selects[0]).toMatchObject({ parentId: server.spanId, traceId: server.traceId });
  });
});

/** mysql2 before 3.20 (no channels) used only through `mysql2/promise`, imported before or after the hooks. */
const MYSQL2_PROMISE_APP = `
const early = process.argv[2] === 'before' ? await import('mysql2/promise') : undefined;
const core = await import('@otinst/core');
const { RecordingTracer } = await import('@otinst/recorder');
core.installPatches(['mysql2']);
const { default: mysql } = early ?? (await import('mysql2/promise'));
const tracer = new RecordingTracer({ serviceName: 'mysql2-promise' });
const root = tracer.startSpan('root');
const connection = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
await core.runWithSpan(root, () => connection.query('SELECT 1 AS one'));
root.finish();
await connection.end();
const version = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('./node_modules/mysql2/package.json', import.meta.url))).version;
const spans = tracer.spans().map(({ operationName, spanId, parentId }) => ({ operationName, spanId, parentId }));
console.log(JSON.stringify({ version, spans }));
`;

const mysql = await serviceAvailable('mysql');

describe.skipIf(!mysql)('mysql2 without channels, used only through mysql2/promise', () => {
  // a real copy named mysql2 (3.15, the repository's mysql2-nochannels), its dependencies linked
  const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules/mysql2-nochannels/package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const deps = Object.keys(pkg.dependencies).filter((name) => existsSync(join(ROOT, 'node_modules', name)));
  const app = layout(
    'mysql2-promise',
    { 'app.mjs': MYSQL2_PROMISE_APP },
    {
      'node_modules/@otinst/core': 'packages/core',
      'node_modules/@otinst/recorder': 'packages/recorder',
      ...Object.fromEntries(deps.map((name) => [`node_modules/${name}`, `node_modules/${name}`])),
    },
  );
  cpSync(join(ROOT, 'node_modules/mysql2-nochannels'), join(app, 'node_modules/mysql2'), { recursive: true });

  it.each(['before', 'after'])('is patched when imported %s the adapter', async (mode) => {
    const { version, spans } = await run<{
      version: string;
      spans: { operationName: string; spanId: string; parentId?: string }[];
    }>(join(app, 'app.mjs'), app, [mode]);
    expect(version).toMatch(/^3\.1\d\./);
    const root = spans.find((span) => span.operationName === 'root')!;
    expect(spans.filter((span) => span !== root)).toEqual([
      { operationName: 'mysql2:SELECT', spanId: expect.any(String), parentId: root.spanId },
    ]);
  });
});

/** amqplib used only through `amqplib/callback_api`, required before or after the hooks. */
const AMQPLIB_CALLBACK_APP = `
const early = process.argv[2] === 'before' ? require('amqplib/callback_api') : undefined;
const core = require('@otinst/core');
const { RecordingTracer } = require('@otinst/recorder');
core.installPatches(['amqplib']);
const amqp = early ?? require('amqplib/callback_api');
const tracer = new RecordingTracer({ serviceName: 'amqplib-callback' });
const queue = 'otinst-loading-' + process.pid + '-' + Date.now();
const fail = (error) => { console.error(error); process.exit(1); };
amqp.connect('amqp://guest:guest@127.0.0.1:5672', (error, connection) => {
  if (error) fail(error);
  connection.createChannel((error, channel) => {
    if (error) fail(error);
    const root = tracer.startSpan('root');
    core.runWithSpan(root, () => channel.sendToQueue(queue, Buffer.from('x')));
    root.finish();
    channel.deleteQueue(queue, {}, () => connection.close(() => {
      const spans = tracer.spans().map(({ operationName, spanId, parentId }) => ({ operationName, spanId, parentId }));
      console.log(JSON.stringify({ queue, spans }));
    }));
  });
});
`;

const rabbitmq = await serviceAvailable('rabbitmq');

describe.skipIf(!rabbitmq)('amqplib used only through amqplib/callback_api', () => {
  const app = layout(
    'amqplib-callback',
    { 'app.cjs': AMQPLIB_CALLBACK_APP },
    {
      'node_modules/@otinst/core': 'packages/core',
      'node_modules/@otinst/recorder': 'packages/recorder',
      'node_modules/amqplib': 'node_modules/amqplib',
    },
  );

  it.each(['before', 'after'])('is patched when required %s the adapter', async (mode) => {
    const { queue, spans } = await run<{
      queue: string;
      spans: { operationName: string; spanId: string; parentId?: string }[];
    }>(join(app, 'app.cjs'), app, [mode]);
    const root = spans.find((span) => span.operationName === 'root')!;
    expect(spans.filter((span) => span !== root)).toEqual([
      { operationName: `amqp:publish ${queue}`, spanId: expect.any(String), parentId: root.spanId },
    ]);
  });
});

/** An ES-module-only package (format "module", no CommonJS build), imported before or after the hooks. */
const ESM_ONLY = {
  'node_modules/knex/package.json': JSON.stringify({
    name: 'knex',
    version: '3.1.0',
    type: 'module',
    exports: './index.js',
  }),
  'node_modules/knex/index.js':
    'export class Client { query() { return "query"; } stream() { return "stream"; } }\n' +
    'export default { Client: class DefaultClient { query() { return "default"; } stream() {} } };\n',
};
const ESM_APP = `
const early = process.argv[2] === 'before' ? await import('knex') : undefined;
const { installPatches } = await import('@otinst/core');
installPatches(['knex']);
const namespace = early ?? (await import('knex'));
const { Client } = namespace;
const isPatched = (C) => C.prototype.query[Symbol.for('otinst.original')] !== undefined;
const patched = isPatched(Client) && isPatched(namespace.default.Client);
console.log(JSON.stringify({ patched, works: new Client().query() }));
`;

describe('ES modules imported after the adapter are patched through module.registerHooks', () => {
  const app = layout('esm-only', { 'app.mjs': ESM_APP, ...ESM_ONLY }, { 'node_modules/@otinst/core': 'packages/core' });

  it('patches an ES-module-only copy imported after the hooks are installed, with no loader flag', async () => {
    const result = await run<{ patched: boolean; works: string }>(join(app, 'app.mjs'), app, ['after']);
    expect(result).toMatchObject({ patched: true, works: 'query' });
  });

  it('cannot find an ES-module-only copy imported before (documented: docs/esm.md)', async () => {
    const result = await run<{ patched: boolean; works: string }>(join(app, 'app.mjs'), app, ['before']);
    expect(result).toMatchObject({ patched: false, works: 'query' });
  });
});

/**
 * Two copies of @otinst/core (issue 11): @otinst/express uses the hoisted
 * copy, @otinst/koa its own nested one. Each request makes an outgoing
 * http.get: both must get a client span under their server span and send the
 * trace header.
 */
const TWO_COPIES_APP = `
const http = require('node:http');
const warnings = [];
process.on('warning', (warning) => warnings.push(warning.code));
if (process.argv[2] === 'incompatible') {
  Object.defineProperty(globalThis, Symbol.for('otinst.shared'), { value: { version: 999 }, configurable: true });
}
const express = require('express');
const Koa = require('koa');
const { RecordingTracer } = require('@otinst/recorder');
const otinstExpress = require('@otinst/express');
const otinstKoa = require('@otinst/koa');
const copies = new Set([require.resolve('@otinst/core', { paths: [require.resolve('@otinst/express')] }),
  require.resolve('@otinst/core', { paths: [require.resolve('@otinst/koa')] })]).size;

const received = {};
const echo = http.createServer((req, res) => { received[req.url] = req.headers.traceparent ?? null; res.end('ok'); });
const get = (path) => new Promise((resolve, reject) => {
  http.get({ port: echo.address().port, host: '127.0.0.1', path, agent: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
});
const expressTracer = new RecordingTracer({ serviceName: 'express' });
const koaTracer = new RecordingTracer({ serviceName: 'koa' });
const app1 = express();
app1.use(otinstExpress.tracingMiddleware(expressTracer));
app1.get('/e', async (req, res) => { await get('/from-express'); res.send('ok'); });
const app2 = new Koa();
app2.use(otinstKoa.tracingMiddleware(koaTracer));
app2.use(async (ctx) => { await get('/from-koa'); ctx.body = 'ok'; });

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
const request = (server, path) => new Promise((resolve) => {
  http.get({ port: server.address().port, host: '127.0.0.1', path, agent: false }, (res) => { res.resume(); res.on('end', resolve); });
});
const close = (server) => new Promise((resolve) => server.close(resolve));
(async () => {
  await listen(echo);
  const s1 = await listen(http.createServer(app1));
  const s2 = await listen(http.createServer(app2.callback()));
  await request(s1, '/e');
  await request(s2, '/k');
  await Promise.all([close(s1), close(s2), close(echo)]);
  const print = (tracer) => tracer.spans().map(({ operationName, spanId, parentId, traceId, tags }) => ({ operationName, kind: tags['span.kind'], spanId, parentId, traceId }));
  console.log(JSON.stringify({ copies, warnings, received, express: print(expressTracer), koa: print(koaTracer) }));
})();
`;

describe('two copies of @otinst/core in one app (issue 11)', () => {
  const copy = (to: string) => ({
    [`${to}/package.json`]: readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8'),
  });
  const app = layout(
    'two-copies',
    {
      'app.cjs': TWO_COPIES_APP,
      ...copy('node_modules/@otinst/core'),
      'node_modules/@otinst/express/package.json': readFileSync(join(ROOT, 'packages/express/package.json'), 'utf8'),
      'node_modules/@otinst/koa/package.json': readFileSync(join(ROOT, 'packages/koa/package.json'), 'utf8'),
      ...copy('node_modules/@otinst/koa/node_modules/@otinst/core'),
    },
    {
      'node_modules/express': 'node_modules/express',
      'node_modules/koa': 'node_modules/koa',
      'node_modules/opentracing': 'node_modules/opentracing',
      'node_modules/@otinst/recorder': 'packages/recorder',
    },
  );
  for (const [from, to] of [
    ['packages/core/dist', 'node_modules/@otinst/core/dist'],
    ['packages/core/dist', 'node_modules/@otinst/koa/node_modules/@otinst/core/dist'],
    ['packages/express/dist', 'node_modules/@otinst/express/dist'],
    ['packages/koa/dist', 'node_modules/@otinst/koa/dist'],
  ] as const) {
    cpSync(join(ROOT, from), join(app, to), { recursive: true });
  }

  interface Printed {
    operationName: string;
    kind: string;
    spanId: string;
    parentId?: string;
    traceId: string;
  }
  interface Result {
    copies: number;
    warnings: string[];
    received: Record<string, string | null>;
    express: Printed[];
    koa: Printed[];
  }

  /** The server span and its one client span `GET`, with the header the echo server received. */
  function expectTraced(spans: Printed[], server: string, header: string | null | undefined): void {
    const roots = spans.filter((span) => span.kind === 'server');
    expect(roots.map((span) => span.operationName)).toEqual([server]);
    const root = roots[0]!;
    const clients = spans.filter((span) => span.kind === 'client');
    expect(clients.map((span) => span.operationName)).toEqual(['GET']);
    expect(clients[0]).toMatchObject({ parentId: root.spanId, traceId: root.traceId });
    expect(header).toMatch(new RegExp(`^00-${root.traceId}-${clients[0]!.spanId}-0[01]$`));
  }

  it('shares the context and the hooks: client spans and trace headers from both adapters', async () => {
    const result = await run<Result>(join(app, 'app.cjs'), app);
    expect(result.copies).toBe(2);
    expect(result.warnings).toEqual([]);
    expectTraced(result.express, 'GET /e', result.received['/from-express']);
    expectTraced(result.koa, 'GET', result.received['/from-koa']);
  });

  it('warns once, with a code, when a copy with an incompatible shared state is loaded', async () => {
    const result = await run<Result>(join(app, 'app.cjs'), app, ['incompatible']);
    expect(result.warnings).toEqual(['OTINST_CORE_COPIES']);
  });
});
