import http from 'node:http';
import type { ClientRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ClientInterceptors,
  configure,
  getCurrentSpan,
  installPatches,
  resetConfig,
  runSuppressed,
  runWithSpan,
  uninstallPatches,
} from '@otinst/core';
import type { Span } from 'opentracing';
import {
  jaegerTracer,
  otelTracer,
  recorderTracer,
  type FinishedSpan,
  type TracerUnderTest,
} from '../../../../test/support/tracers';
import { closedPort, collect, startEchoServer, type EchoServer } from './http-support';

const rec = recorderTracer();
let server: EchoServer;
let base: string;

beforeAll(async () => {
  installPatches(['http']);
  server = await startEchoServer();
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  uninstallPatches();
  await server.close();
});
beforeEach(() => {
  rec.reset();
  server.seen.length = 0;
});
afterEach(() => {
  resetConfig();
  ClientInterceptors.clear();
});

/** Runs `send` under a fresh parent span of `t`; returns the caller's outcome and the finished spans. */
async function underParent(send: () => ClientRequest, t: TracerUnderTest = rec) {
  t.reset();
  const parent = t.tracer.startSpan('parent');
  const outcome = await runWithSpan(parent, () => collect(send()));
  parent.finish();
  const spans = t.spans();
  const parentSpan = spans.find((s) => s.operationName === 'parent')!;
  const children = spans.filter((s) => s !== parentSpan);
  return { outcome, parent: parentSpan, children, child: children[0] };
}

function clientTags(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'span.kind': 'client',
    component: 'http',
    'http.method': 'GET',
    'http.url': `${base}/`,
    'peer.ipv4': '127.0.0.1',
    'peer.port': server.port,
    'http.status_code': 200,
    ...extra,
  };
}

function expectChildOf(child: FinishedSpan | undefined, parent: FinishedSpan): asserts child is FinishedSpan {
  expect(child).toBeDefined();
  expect(child!.parentId).toBe(parent.spanId);
  expect(child!.traceId).toBe(parent.traceId);
}

function expectInjected(child: FinishedSpan, seen = server.seen[0]!) {
  expect(seen.headers['traceparent']).toBe(`00-${child.traceId}-${child.spanId}-01`);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('http hook: one client span per request, child of the current span', () => {
  it('http.get(url, callback): exact name, tags, parent, trace id and injected traceparent', async () => {
    const { outcome, parent, children, child } = await underParent(() =>
      http.get(`${base}/users/7?expand=1`, (res) => res.resume()),
    );
    expect(outcome.status).toBe(200);
    expect(children).toHaveLength(1);
    expectChildOf(child, parent);
    expect(child.operationName).toBe('GET');
    expect(child.tags).toEqual(clientTags({ 'http.url': `${base}/users/7?expand=1` }));
    expect(child.logs).toEqual([]);
    expect(rec.tracer.spans().map((s) => s.finishCount)).toEqual([1, 1]);
    expect(rec.tracer.store.unfinished()).toEqual([]);
    expectInjected(child);
    expect(server.seen[0]!.url).toBe('/users/7?expand=1');
  });

  const forms: [string, (headers: Record<string, string>) => ClientRequest, string, string][] = [
    ['request(url string)', () => http.request(`${base}/a`).end() as ClientRequest, 'GET', '/a'],
    ['request(URL)', () => http.request(new URL(`${base}/b?q=1`)).end() as ClientRequest, 'GET', '/b?q=1'],
    [
      'request(url, options)',
      (headers) => http.request(`${base}/c`, { method: 'post', headers }).end('body') as ClientRequest,
      'POST',
      '/c',
    ],
    [
      'request(URL, options, callback)',
      (headers) => http.request(new URL(`${base}/d`), { method: 'PUT', headers }, (res) => res.resume()).end(),
      'PUT',
      '/d',
    ],
    [
      'request(options)',
      (headers) =>
        http
          .request({ host: '127.0.0.1', port: server.port, path: '/e', method: 'DELETE', headers })
          .end() as ClientRequest,
      'DELETE',
      '/e',
    ],
    [
      'request(options, callback)',
      (headers) =>
        http.request({ hostname: '127.0.0.1', port: server.port, path: '/f', headers }, (res) => res.resume()).end(),
      'GET',
      '/f',
    ],
    ['request(url, callback)', () => http.request(`${base}/g`, (res) => res.resume()).end(), 'GET', '/g'],
    [
      'get(URL, options, callback)',
      (headers) => http.get(new URL(`${base}/h`), { headers }, (res) => res.resume()),
      'GET',
      '/h',
    ],
    ['get(options)', (headers) => http.get({ host: '127.0.0.1', port: server.port, path: '/i', headers }), 'GET', '/i'],
  ];
  for (const [form, send, method, path] of forms) {
    it(`${form}: ${method} span, traceparent injected, the caller's options untouched`, async () => {
      const headers = deepFreeze({ 'x-caller': 'yes' });
      const { outcome, parent, children, child } = await underParent(() => send(headers));
      expect(outcome.error).toBeUndefined();
      expect(outcome.status).toBe(200);
      expect(children).toHaveLength(1);
      expectChildOf(child, parent);
      expect(child.operationName).toBe(method);
      expect(child.tags).toEqual(clientTags({ 'http.method': method, 'http.url': `${base}${path}` }));
      expect(server.seen[0]!.method).toBe(method);
      expect(server.seen[0]!.url).toBe(path);
      expectInjected(child);
      expect(headers).toEqual({ 'x-caller': 'yes' });
    });
  }

  it('an options object and its headers are neither mutated nor kept: the same object can be sent twice', async () => {
    const options = { host: '127.0.0.1', port: server.port, path: '/twice', headers: { accept: 'application/json' } };
    const snapshot = structuredClone(options);
    const first = await underParent(() => http.get(options));
    const second = await underParent(() => http.get(options));
    expect(options).toEqual(snapshot);
    expect(Object.keys(options.headers)).toEqual(['accept']);
    expectInjected(first.child!, server.seen[0]);
    expectInjected(second.child!, server.seen[1]);
    expect(first.child!.traceId).not.toBe(second.child!.traceId);
  });

  it('array headers (flat and pairs) get the traceparent appended to a copy', async () => {
    const flat = deepFreeze(['host', `127.0.0.1:${server.port}`, 'X-Flat', '1']);
    const pairs = deepFreeze([
      ['host', `127.0.0.1:${server.port}`],
      ['X-Pairs', '2'],
    ]);
    const a = await underParent(() => http.get({ host: '127.0.0.1', port: server.port, path: '/flat', headers: flat }));
    const b = await underParent(() =>
      http.get({ host: '127.0.0.1', port: server.port, path: '/pairs', headers: pairs as unknown as string[] }),
    );
    expect(a.outcome.status).toBe(200);
    expect(b.outcome.status).toBe(200);
    expect(server.seen[0]!.headers['x-flat']).toBe('1');
    expect(server.seen[1]!.headers['x-pairs']).toBe('2');
    expectInjected(a.child!, server.seen[0]);
    expectInjected(b.child!, server.seen[1]);
    expect(flat).toHaveLength(4);
    expect(pairs).toHaveLength(2);
  });

  it("a stale traceparent of the caller's is replaced, not duplicated, and stays in the caller's object", async () => {
    const stale = '00-11111111111111111111111111111111-2222222222222222-01';
    const headers = deepFreeze({ TraceParent: stale });
    const { child } = await underParent(() => http.get(`${base}/stale`, { headers }));
    expectInjected(child!);
    expect(server.seen[0]!.rawHeaders.filter((h) => h.toLowerCase() === 'traceparent')).toHaveLength(1);
    expect(headers.TraceParent).toBe(stale);
  });

  it('credentials in the URL and `auth` are never tagged; the request still carries them', async () => {
    const viaUrl = await underParent(() => http.get(`http://alice:s3cret@127.0.0.1:${server.port}/private`));
    const viaAuth = await underParent(() =>
      http.get({ host: '127.0.0.1', port: server.port, path: '/private', auth: 'bob:hunter2' }),
    );
    for (const { child } of [viaUrl, viaAuth]) {
      expect(child!.tags['http.url']).toBe(`${base}/private`);
      expect(JSON.stringify(child!.tags)).not.toMatch(/s3cret|hunter2|alice|bob/);
    }
    expect(server.seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(server.seen[1]!.headers.authorization).toBe(`Basic ${Buffer.from('bob:hunter2').toString('base64')}`);
  });

  it('setHost: false, defaultPort and agent.defaultPort shape the tags the way Node shapes the request', async () => {
    const noHost = await underParent(() =>
      http.get({
        host: '127.0.0.1',
        port: server.port,
        path: '/nohost',
        setHost: false,
        headers: { host: 'virtual.test' },
      }),
    );
    expect(server.seen[0]!.headers.host).toBe('virtual.test');
    expect(noHost.child!.tags).toEqual(clientTags({ 'http.url': `${base}/nohost` }));

    const viaDefaultPort = await underParent(() =>
      http.get({ host: '127.0.0.1', defaultPort: server.port, path: '/dp' }),
    );
    expect(viaDefaultPort.outcome.status).toBe(200);
    expect(viaDefaultPort.child!.tags).toEqual(clientTags({ 'http.url': `${base}/dp` }));

    const agent = new http.Agent();
    (agent as unknown as { defaultPort: number }).defaultPort = server.port;
    const viaAgent = await underParent(() => http.get({ host: '127.0.0.1', path: '/agent', agent }));
    agent.destroy();
    expect(viaAgent.outcome.status).toBe(200);
    expect(viaAgent.child!.tags).toEqual(clientTags({ 'http.url': `${base}/agent` }));
  });

  it('a host name is tagged peer.hostname, IPv6 literals peer.ipv6 in brackets in the URL', async () => {
    const byName = await underParent(() => http.get({ host: 'localhost', port: server.port, path: '/n', family: 4 }));
    expect(byName.child!.tags['peer.hostname']).toBe('localhost');
    expect(byName.child!.tags['http.url']).toBe(`http://localhost:${server.port}/n`);
    expect(byName.child!.tags['peer.ipv4']).toBeUndefined();

    const v6 = await underParent(() => http.get(`http://[::1]:${server.port}/v6`));
    // nobody listens on ::1 here: the span is an error span, with the IPv6 tags
    expect(v6.outcome.error).toBeDefined();
    expect(v6.child!.tags['peer.ipv6']).toBe('::1');
    expect(v6.child!.tags['http.url']).toBe(`http://[::1]:${server.port}/v6`);
    expect(v6.child!.tags['error']).toBe(true);
  });

  it('the callee-endpoint and callee-name headers name the span and tag peer.service (object and array headers)', async () => {
    configure({ calleeEndpointHeaders: ['X-Endpoint'], calleeNameHeaders: ['X-Service'] });
    const object = await underParent(() =>
      http.get(`${base}/ep`, { headers: { 'x-endpoint': 'getUser', 'X-Service': 'users' } }),
    );
    const array = await underParent(() =>
      http.get({
        host: '127.0.0.1',
        port: server.port,
        path: '/ep',
        headers: ['Host', `127.0.0.1:${server.port}`, 'X-ENDPOINT', 'listUsers'],
      }),
    );
    expect(object.child!.operationName).toBe('GET:getUser');
    expect(object.child!.tags['peer.service']).toBe('users');
    expect(array.child!.operationName).toBe('GET:listUsers');
    expect(array.child!.tags['peer.service']).toBeUndefined();
  });

  it('interceptors see the request and may add headers through it', async () => {
    const seenByInterceptor: unknown[] = [];
    ClientInterceptors.append({
      process(request, span) {
        seenByInterceptor.push([
          request.method,
          request.fullUrl,
          request.host,
          request.port,
          request.getHeader('x-in'),
        ]);
        request.setHeader('x-intercepted', 'yes');
        span.setTag('custom', 1);
      },
    });
    const headers = deepFreeze({ 'X-In': 'given' });
    const { child } = await underParent(() => http.get(`${base}/int`, { headers }));
    expect(seenByInterceptor).toEqual([['GET', `${base}/int`, '127.0.0.1', server.port, 'given']]);
    expect(child!.tags['custom']).toBe(1);
    expect(server.seen[0]!.headers['x-intercepted']).toBe('yes');
    expect(headers).toEqual({ 'X-In': 'given' });
  });
});

describe('http hook: errors and endings, each finishing the span exactly once', () => {
  it('a 500 response: error=true and an HttpError log, the caller gets its 500', async () => {
    const { outcome, child } = await underParent(() => http.get(`${base}/status/500`));
    expect(outcome.status).toBe(500);
    expect(child!.tags).toEqual(clientTags({ 'http.url': `${base}/status/500`, 'http.status_code': 500, error: true }));
    expect(child!.logs).toEqual([{ event: 'error', 'error.kind': 'HttpError', message: 'HTTP 500' }]);
  });

  it('a 404 is no error', async () => {
    const { child } = await underParent(() => http.get(`${base}/status/404`));
    expect(child!.tags['http.status_code']).toBe(404);
    expect(child!.tags['error']).toBeUndefined();
  });

  it('a refused connection: error span with the error logged; the caller still gets its ECONNREFUSED', async () => {
    const port = await closedPort();
    const { outcome, child, children } = await underParent(() => http.get(`http://127.0.0.1:${port}/`));
    expect(outcome.error?.code).toBe('ECONNREFUSED');
    expect(children).toHaveLength(1);
    expect(child!.tags).toEqual({
      'span.kind': 'client',
      component: 'http',
      'http.method': 'GET',
      'http.url': `http://127.0.0.1:${port}/`,
      'peer.ipv4': '127.0.0.1',
      'peer.port': port,
      error: true,
    });
    expect(child!.logs).toHaveLength(1);
    expect(child!.logs[0]).toMatchObject({ event: 'error', 'error.kind': 'Error', message: outcome.error!.message });
    expect(child!.logs[0]!['error.object']).toBe(outcome.error);
    expect(rec.tracer.spans().map((s) => s.finishCount)).toEqual([1, 1]);
  });

  it('the hook adds no error or response listener: unhandled errors and response dumping behave as before', async () => {
    const parent = rec.tracer.startSpan('parent');
    const req = runWithSpan(parent, () => http.request(`${base}/dump`));
    expect(req.listenerCount('error')).toBe(0);
    expect(req.listenerCount('response')).toBe(0);
    // nobody reads the response: Node dumps it, so the request still closes and the span finishes
    const closed = new Promise((resolve) => req.on('close', resolve));
    req.end();
    await closed;
    parent.finish();
    const child = rec.spans().find((s) => s.operationName === 'GET')!;
    expect(child.tags['http.status_code']).toBe(200);
    expect(child.tags['error']).toBeUndefined();
  });

  it('req.destroy() before the response: error span (socket hang up), finished once', async () => {
    const { outcome, child } = await underParent(() => {
      const req = http.get(`${base}/hang`);
      req.on('socket', () => setImmediate(() => req.destroy()));
      return req;
    });
    expect(outcome.error?.code).toBe('ECONNRESET');
    expect(child!.tags['error']).toBe(true);
    expect(child!.tags['http.status_code']).toBeUndefined();
    expect(child!.logs).toEqual([expect.objectContaining({ event: 'error', message: 'socket hang up' })]);
    expect(rec.tracer.spans().map((s) => s.finishCount)).toEqual([1, 1]);
  });

  it('a response cut off mid-body: error, http.aborted, status kept', async () => {
    const { outcome, child } = await underParent(() => http.get(`${base}/partial`));
    expect(outcome.status).toBe(200);
    expect(child!.tags).toEqual(clientTags({ 'http.url': `${base}/partial`, error: true, 'http.aborted': true }));
    expect(child!.logs).toEqual([
      { event: 'error', 'error.kind': 'AbortError', message: 'response aborted before it was complete' },
    ]);
  });

  it('a timeout the caller acts on (destroy): a timeout log, then the error; finished once', async () => {
    const { outcome, child } = await underParent(() => {
      const req = http.get(`${base}/hang`, { timeout: 30 });
      req.on('timeout', () => req.destroy(new Error('gave up waiting')));
      return req;
    });
    expect(outcome.error?.message).toBe('gave up waiting');
    expect(child!.tags['error']).toBe(true);
    expect(child!.logs).toEqual([
      { event: 'timeout', message: 'request timed out after 30 ms' },
      expect.objectContaining({ event: 'error', 'error.kind': 'Error', message: 'gave up waiting' }),
    ]);
    expect(rec.tracer.spans().map((s) => s.finishCount)).toEqual([1, 1]);
  });

  it('a timeout the caller ignores: the request goes on as without the hook; logged, not an error', async () => {
    const { outcome, child } = await underParent(() => http.get(`${base}/slow`, { timeout: 20 }));
    expect(outcome.error).toBeUndefined();
    expect(outcome.status).toBe(200);
    expect(child!.tags).toEqual(clientTags({ 'http.url': `${base}/slow` }));
    expect(child!.logs).toEqual([{ event: 'timeout', message: 'request timed out after 20 ms' }]);
  });

  it('a request Node refuses synchronously (wrong protocol): error span, the same error thrown', async () => {
    const parent = rec.tracer.startSpan('parent');
    let thrown: unknown;
    runWithSpan(parent, () => {
      try {
        http.request({ protocol: 'https:', host: '127.0.0.1', port: server.port });
      } catch (error) {
        thrown = error;
      }
    });
    parent.finish();
    expect((thrown as { code?: string }).code).toBe('ERR_INVALID_PROTOCOL');
    const child = rec.spans().find((s) => s.operationName === 'GET')!;
    expect(child.parentId).toBe(rec.spans().find((s) => s.operationName === 'parent')!.spanId);
    expect(child.tags['error']).toBe(true);
    expect(child.logs[0]!['error.object']).toBe(thrown);
  });
});

describe('http hook: arguments Node rejects', () => {
  it('an invalid URL string: no span, and Node throws its own error', () => {
    const expected = (() => {
      try {
        new URL('not a url');
      } catch (error) {
        return error as Error & { code?: string };
      }
    })();
    const parent = rec.tracer.startSpan('parent');
    expect(() => runWithSpan(parent, () => http.get('not a url'))).toThrow(
      expect.objectContaining({ code: expected?.code, message: expected?.message }),
    );
    parent.finish();
    expect(rec.spans().map((s) => s.operationName)).toEqual(['parent']);
  });
});

describe('http hook: context', () => {
  it('the response callback and the response stream events run in the caller context', async () => {
    const parent = rec.tracer.startSpan('parent');
    const seen: (Span | null)[] = [];
    await runWithSpan(parent, () => {
      const req = http.get(`${base}/ctx`, (res) => {
        seen.push(getCurrentSpan());
        res.on('data', () => seen.push(getCurrentSpan()));
        res.on('end', () => seen.push(getCurrentSpan()));
      });
      return new Promise((resolve) => req.on('close', resolve));
    });
    parent.finish();
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const span of seen) expect(span).toBe(parent);
  });

  it('a busy keep-alive agent (maxSockets 1) under concurrent requests keeps each request in its own trace', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const parents = [0, 1, 2, 3, 4].map((i) => rec.tracer.startSpan(`parent-${i}`));
    const dataContexts = new Map<number, Set<Span | null>>();
    await Promise.all(
      parents.map((parent, i) =>
        runWithSpan(parent, () => {
          const contexts = new Set<Span | null>();
          dataContexts.set(i, contexts);
          const req = http.get(`${base}/busy/${i}`, { agent }, (res) => {
            contexts.add(getCurrentSpan());
            res.on('data', () => contexts.add(getCurrentSpan()));
          });
          return new Promise((resolve) => req.on('close', resolve));
        }),
      ),
    );
    agent.destroy();
    for (const parent of parents) parent.finish();
    const spans = rec.spans();
    for (let i = 0; i < parents.length; i++) {
      const parent = spans.find((s) => s.operationName === `parent-${i}`)!;
      const child = spans.find((s) => s.parentId === parent.spanId)!;
      expect(child.tags['http.url']).toBe(`${base}/busy/${i}`);
      expect(child.traceId).toBe(parent.traceId);
      const seen = server.seen.find((s) => s.url === `/busy/${i}`)!;
      expectInjected(child, seen);
      expect([...dataContexts.get(i)!]).toEqual([parents[i]]);
    }
  });

  it('inside runSuppressed: no span and nothing injected', async () => {
    const parent = rec.tracer.startSpan('parent');
    await runWithSpan(parent, () => runSuppressed(() => collect(http.get(`${base}/suppressed`))));
    parent.finish();
    expect(rec.spans().map((s) => s.operationName)).toEqual(['parent']);
    expect(server.seen[0]!.headers['traceparent']).toBeUndefined();
  });

  it('with no current span (the default requireParentSpan): no span and nothing injected', async () => {
    const outcome = await collect(http.get(`${base}/orphan`));
    expect(outcome.status).toBe(200);
    expect(rec.spans()).toEqual([]);
    expect(server.seen[0]!.headers['traceparent']).toBeUndefined();
  });

  it('with requireParentSpan false: a root client span from the configured tracer', async () => {
    configure({ requireParentSpan: false });
    configure({ tracer: rec.tracer });
    try {
      await collect(http.get(`${base}/root`));
    } finally {
      configure({ requireParentSpan: true });
      configure({ tracer: null });
    }
    const [root] = rec.spans();
    expect(root!.operationName).toBe('GET');
    expect(root!.parentId).toBeUndefined();
    expectInjected(root!);
  });
});

describe('http hook with the other real tracers', () => {
  it('jaeger: child span, ids linked, uber-trace-id injected', async () => {
    const t = jaegerTracer();
    const { parent, child, children } = await underParent(() => http.get(`${base}/jaeger`), t);
    expect(children).toHaveLength(1);
    expectChildOf(child, parent);
    expect(child.operationName).toBe('GET');
    expect(child.tags).toMatchObject(clientTags({ 'http.url': `${base}/jaeger` }));
    const [traceId, spanId, parentId] = String(server.seen[0]!.headers['uber-trace-id']).split(':');
    expect(traceId!.padStart(16, '0')).toBe(child.traceId);
    expect(spanId!.padStart(16, '0')).toBe(child.spanId);
    expect(parentId!.padStart(16, '0')).toBe(parent.spanId);
  });

  it('OpenTelemetry shim: child span, ids linked, traceparent injected, 500 is an error', async () => {
    const t = otelTracer();
    const ok = await underParent(() => http.get(`${base}/otel`), t);
    expectChildOf(ok.child, ok.parent);
    expect(ok.child.operationName).toBe('GET');
    expect(ok.child.tags).toEqual(clientTags({ 'http.url': `${base}/otel` }));
    expectInjected(ok.child);
    t.reset();
    const failed = await underParent(() => http.get(`${base}/status/503`), t);
    expect(failed.child!.tags).toMatchObject({ 'http.status_code': 503, error: true });
    // the shim turns the error log into an OTel exception event
    expect(failed.child!.logs).toEqual([
      { event: 'error', 'exception.type': 'HttpError', 'exception.message': 'HTTP 503' },
    ]);
  });
});
