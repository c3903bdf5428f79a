import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import type { Span } from 'opentracing';
import * as undici from 'undici';
import { closedPort, HostileTracer, startEchoServer, type EchoServer, type Seen } from './http-support';

let server: EchoServer;
let base: string;
let refused: string;
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

beforeAll(async () => {
  installPatches(['fetch']);
  server = await startEchoServer();
  base = `http://127.0.0.1:${server.port}`;
  refused = `http://127.0.0.1:${await closedPort()}/`;
  // a throwing diagnostics_channel subscriber would surface here, on the next tick
  process.on('uncaughtException', onUncaught);
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  uninstallPatches();
  await server.close();
});

interface Observed {
  status?: number;
  seen?: Pick<Seen, 'method' | 'url' | 'headers'>;
  error?: { name: string; message: string; cause?: string };
}

function seenOf(body: string): Observed['seen'] {
  const seen = JSON.parse(body) as Seen;
  return { method: seen.method, url: seen.url, headers: seen.headers };
}

function errorOf(error: Error & { cause?: { code?: string } }): Observed {
  return { error: { name: error.name, message: error.message, cause: error.cause?.code } };
}

const sends: [string, () => Promise<Observed>][] = [
  [
    'a global fetch',
    () =>
      fetch(`${base}/ok?a=1`, { headers: { 'x-a': '1' } }).then(
        async (r) => ({ status: r.status, seen: seenOf(await r.text()) }),
        errorOf,
      ),
  ],
  [
    'an undici.request POST',
    () =>
      undici
        .request(`${base}/post`, { method: 'POST', headers: ['x-b', '2'], body: 'body' })
        .then(async (r) => ({ status: r.statusCode, seen: seenOf(await r.body.text()) }), errorOf),
  ],
  [
    'a 500',
    () => fetch(`${base}/status/500`).then(async (r) => ({ status: r.status, seen: seenOf(await r.text()) }), errorOf),
  ],
  ['a refused connection', () => fetch(refused).then((r) => ({ status: r.status }), errorOf)],
];

describe('fetch hook: a tracer that throws changes nothing for the caller', () => {
  const parents: [string, () => Span][] = [
    ['startSpan throws', () => new HostileTracer(true).parent()],
    ['every span method and inject throw', () => new HostileTracer(false).parent()],
  ];
  for (const [what, makeParent] of parents) {
    for (const [call, send] of sends) {
      it(`${what}: ${call} has the same result as untraced`, async () => {
        const baseline = await send();
        const traced = await runWithSpan(makeParent(), send);
        expect(traced).toEqual(baseline);
        await new Promise((resolve) => setImmediate(resolve));
        expect(uncaught).toEqual([]);
      });
    }
  }
});
