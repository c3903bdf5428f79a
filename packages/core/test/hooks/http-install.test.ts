import http from 'node:http';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { recorderTracer } from '../../../../test/support/tracers';
import { collect, startEchoServer, type EchoServer } from './http-support';

const originals = {
  httpRequest: http.request,
  httpGet: http.get,
  httpsRequest: https.request,
  httpsGet: https.get,
};

const rec = recorderTracer();
let server: EchoServer;

beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(async () => {
  uninstallPatches();
  await server.close();
});

async function spansOfOneRequest(send: () => http.ClientRequest): Promise<string[]> {
  rec.reset();
  const parent = rec.tracer.startSpan('parent');
  await runWithSpan(parent, () => collect(send()));
  parent.finish();
  return rec.spans().map((s) => s.operationName);
}

describe('http hook: install and uninstall', () => {
  it('before installation nothing is traced', async () => {
    expect(await spansOfOneRequest(() => http.get(`http://127.0.0.1:${server.port}/`))).toEqual(['parent']);
  });

  it('installing twice (and again with fetch) wraps once: one span per request, for request and get', async () => {
    installPatches(['http']);
    const wrapped = http.request;
    installPatches(['http']);
    installPatches(['fetch', 'http']);
    expect(http.request).toBe(wrapped);
    expect(http.request).not.toBe(originals.httpRequest);
    expect(http.request.name).toBe(originals.httpRequest.name);
    const url = `http://127.0.0.1:${server.port}/once`;
    expect(await spansOfOneRequest(() => http.get(url))).toEqual(['GET', 'parent']);
    expect(await spansOfOneRequest(() => http.request(url).end() as http.ClientRequest)).toEqual(['GET', 'parent']);
  });

  it('ESM named exports of node:http and node:https follow the patch (syncBuiltinESMExports)', async () => {
    const esmHttp = await import('node:http');
    const esmHttps = await import('node:https');
    expect(esmHttp.request).toBe(http.request);
    expect(esmHttp.get).toBe(http.get);
    expect(esmHttps.request).toBe(https.request);
    expect(esmHttps.get).toBe(https.get);
    expect(esmHttp.request).not.toBe(originals.httpRequest);
    expect(await spansOfOneRequest(() => esmHttp.get(`http://127.0.0.1:${server.port}/esm`))).toEqual([
      'GET',
      'parent',
    ]);
  });

  it('uninstallPatches puts back the very same functions, in CommonJS and ESM, and nothing is traced after', async () => {
    uninstallPatches();
    expect(http.request).toBe(originals.httpRequest);
    expect(http.get).toBe(originals.httpGet);
    expect(https.request).toBe(originals.httpsRequest);
    expect(https.get).toBe(originals.httpsGet);
    const esmHttp = await import('node:http');
    expect(esmHttp.request).toBe(originals.httpRequest);
    expect(esmHttp.get).toBe(originals.httpGet);
    expect(await spansOfOneRequest(() => http.get(`http://127.0.0.1:${server.port}/after`))).toEqual(['parent']);
    expect(server.seen.at(-1)!.headers['traceparent']).toBeUndefined();
  });

  it('a request in flight when the hooks are removed still finishes its span once', async () => {
    installPatches(['http']);
    rec.reset();
    const parent = rec.tracer.startSpan('parent');
    const outcome = runWithSpan(parent, () => collect(http.get(`http://127.0.0.1:${server.port}/slow`)));
    uninstallPatches();
    expect((await outcome).status).toBe(200);
    parent.finish();
    expect(rec.tracer.spans().map((s) => [s.operationName, s.finishCount])).toEqual([
      ['GET', 1],
      ['parent', 1],
    ]);
  });
});
