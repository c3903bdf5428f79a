import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { installPatches, runSuppressed, runWithSpan, uninstallPatches } from '@otinst/core';
import type { Span } from 'opentracing';
import * as undici from 'undici';
import {
  jaegerTracer,
  otelTracer,
  recorderTracer,
  type FinishedSpan,
  type TracerUnderTest,
} from '../../../../test/support/tracers';
import { closedPort, collect, startEchoServer, type EchoServer, type Seen } from './http-support';

const rec = recorderTracer();
let server: EchoServer;
let base: string;

beforeAll(async () => {
  installPatches(['fetch', 'http']);
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

/**
 * Runs `send` under a fresh parent span. The span finishes on undici's
 * `trailers` event, which fires before the body promise settles, so awaiting
 * the body is enough.
 */
async function underParent<T>(send: () => Promise<T>, t: TracerUnderTest = rec) {
  t.reset();
  const parent = t.tracer.startSpan('parent');
  const result = await runWithSpan(parent, send);
  parent.finish();
  const spans = t.spans();
  const parentSpan = spans.find((s) => s.operationName === 'parent')!;
  const children = spans.filter((s) => s !== parentSpan);
  return { result, parent: parentSpan, children, child: children[0] };
}

function fetchTags(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'span.kind': 'client',
    component: 'fetch',
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

function expectInjected(child: FinishedSpan, seen: Seen = server.seen[0]!) {
  expect(seen.headers['traceparent']).toBe(`00-${child.traceId}-${child.spanId}-01`);
}

describe('fetch hook: global fetch and undici', () => {
  it('global fetch: one span, exact tags, child of the current span, traceparent injected, headers untouched', async () => {
    const headers = Object.freeze({ 'x-caller': 'yes' });
    const { result, parent, children, child } = await underParent(async () => {
      const response = await fetch(`${base}/users/7?expand=1`, { headers });
      return { status: response.status, body: await response.json() };
    });
    expect(result.status).toBe(200);
    expect(children).toHaveLength(1);
    expectChildOf(child, parent);
    expect(child.operationName).toBe('GET');
    expect(child.tags).toEqual(fetchTags({ 'http.url': `${base}/users/7?expand=1` }));
    expect(child.logs).toEqual([]);
    expect(rec.tracer.spans().map((s) => s.finishCount)).toEqual([1, 1]);
    expectInjected(child);
    expect(server.seen[0]!.headers['x-caller']).toBe('yes');
    expect(headers).toEqual({ 'x-caller': 'yes' });
  });

  it('global fetch with a Headers object and a stale traceparent: ours replaces it, the Headers object is unchanged', async () => {
    const stale = '00-11111111111111111111111111111111-2222222222222222-01';
    const headers = new Headers({ traceparent: stale, 'x-a': '1' });
    const { child } = await underParent(() =>
      fetch(`${base}/post`, { method: 'POST', headers, body: 'hello' }).then((r) => r.text()),
    );
    expect(child!.operationName).toBe('POST');
    expect(child!.tags).toEqual(fetchTags({ 'http.method': 'POST', 'http.url': `${base}/post` }));
    expectInjected(child!);
    expect(server.seen[0]!.rawHeaders.filter((h) => h.toLowerCase() === 'traceparent')).toHaveLength(1);
    expect(headers.get('traceparent')).toBe(stale);
    expect([...headers.keys()]).toEqual(['traceparent', 'x-a']);
  });

  it('undici.fetch: one span, injected', async () => {
    const { parent, children, child } = await underParent(() =>
      undici.fetch(`${base}/undici-fetch`).then((r) => r.text()),
    );
    expect(children).toHaveLength(1);
    expectChildOf(child, parent);
    expect(child.tags).toEqual(fetchTags({ 'http.url': `${base}/undici-fetch` }));
    expectInjected(child);
  });

  it('undici.request (array headers): one span, injected, the caller array unchanged', async () => {
    const headers = Object.freeze(['x-b', '2']);
    const { result, parent, child } = await underParent(async () => {
      const response = await undici.request(`${base}/undici-request?q=1`, {
        method: 'PUT',
        headers: headers as string[],
        body: 'x',
      });
      return { status: response.statusCode, body: await response.body.text() };
    });
    expect(result.status).toBe(200);
    expectChildOf(child, parent);
    expect(child.operationName).toBe('PUT');
    expect(child.tags).toEqual(fetchTags({ 'http.method': 'PUT', 'http.url': `${base}/undici-request?q=1` }));
    expectInjected(child);
    expect(server.seen[0]!.headers['x-b']).toBe('2');
    expect(headers).toEqual(['x-b', '2']);
  });

  it('with the http hook on as well: fetch makes one fetch span and no http span', async () => {
    const { children } = await underParent(() => fetch(`${base}/both`).then((r) => r.text()));
    expect(children.map((s) => s.tags['component'])).toEqual(['fetch']);
    const viaHttp = await underParent(() => collect(http.get(`${base}/both-http`)));
    expect(viaHttp.children.map((s) => s.tags['component'])).toEqual(['http']);
  });

  it('concurrent fetches under different parents stay in their own traces', async () => {
    const parents = [0, 1, 2, 3, 4].map((i) => rec.tracer.startSpan(`parent-${i}`));
    await Promise.all(
      parents.map((parent, i) => runWithSpan(parent, () => fetch(`${base}/many/${i}`).then((r) => r.text()))),
    );
    for (const parent of parents) parent.finish();
    const spans = rec.spans();
    for (let i = 0; i < parents.length; i++) {
      const parent = spans.find((s) => s.operationName === `parent-${i}`)!;
      const child = spans.find((s) => s.parentId === parent.spanId)!;
      expect(child.tags['http.url']).toBe(`${base}/many/${i}`);
      expect(child.traceId).toBe(parent.traceId);
      expectInjected(
        child,
        server.seen.find((s) => s.url === `/many/${i}`),
      );
    }
  });
});

describe('fetch hook: errors', () => {
  it('a 500: error=true and an HttpError log, the caller gets its 500', async () => {
    const { result, child } = await underParent(() => fetch(`${base}/status/500`).then((r) => r.status));
    expect(result).toBe(500);
    expect(child!.tags).toEqual(fetchTags({ 'http.url': `${base}/status/500`, 'http.status_code': 500, error: true }));
    expect(child!.logs).toEqual([{ event: 'error', 'error.kind': 'HttpError', message: 'HTTP 500' }]);
  });

  it('a refused connection: error span with the error logged; the caller gets its TypeError with ECONNREFUSED', async () => {
    const port = await closedPort();
    const { result, child, children } = await underParent(() =>
      fetch(`http://127.0.0.1:${port}/`).then(
        () => undefined,
        (error: TypeError & { cause?: Error & { code?: string } }) => error,
      ),
    );
    expect(result).toBeInstanceOf(TypeError);
    expect(result!.cause?.code).toBe('ECONNREFUSED');
    expect(children).toHaveLength(1);
    expect(child!.tags).toEqual({
      'span.kind': 'client',
      component: 'fetch',
      'http.method': 'GET',
      'http.url': `http://127.0.0.1:${port}/`,
      'peer.ipv4': '127.0.0.1',
      'peer.port': port,
      error: true,
    });
    expect(child!.logs).toEqual([expect.objectContaining({ event: 'error', message: result!.cause!.message })]);
    expect(child!.logs[0]!['error.object']).toBe(result!.cause);
  });

  it('an aborted fetch: error span, finished once; the caller gets its AbortError', async () => {
    const controller = new AbortController();
    const { result, child } = await underParent(() => {
      const pending = fetch(`${base}/hang`, { signal: controller.signal }).then(
        () => undefined,
        (error: Error) => error,
      );
      // abort once the server has the request
      const poll = setInterval(() => {
        if (server.seen.length > 0) {
          clearInterval(poll);
          controller.abort();
        }
      }, 1);
      return pending;
    });
    expect(result?.name).toBe('AbortError');
    expect(child!.tags['error']).toBe(true);
    expect(child!.logs).toEqual([expect.objectContaining({ event: 'error', 'error.kind': expect.any(String) })]);
    expect(rec.tracer.spans().map((s) => s.finishCount)).toEqual([1, 1]);
  });
});

describe('fetch hook: when nothing is traced', () => {
  it('inside runSuppressed: no span and nothing injected', async () => {
    const parent = rec.tracer.startSpan('parent');
    await runWithSpan(parent, () => runSuppressed(() => fetch(`${base}/suppressed`).then((r) => r.text())));
    parent.finish();
    expect(rec.spans().map((s) => s.operationName)).toEqual(['parent']);
    expect(server.seen[0]!.headers['traceparent']).toBeUndefined();
  });

  it('with no current span: no span and nothing injected', async () => {
    await fetch(`${base}/orphan`).then((r) => r.text());
    await undici.request(`${base}/orphan`).then((r) => r.body.text());
    expect(rec.spans()).toEqual([]);
    expect(server.seen.map((s) => s.headers['traceparent'])).toEqual([undefined, undefined]);
  });
});

describe('fetch hook with the other real tracers', () => {
  it('jaeger: child span, ids linked, uber-trace-id injected', async () => {
    const t = jaegerTracer();
    const { parent, child, children } = await underParent(() => fetch(`${base}/jaeger`).then((r) => r.text()), t);
    expect(children).toHaveLength(1);
    expectChildOf(child, parent);
    expect(child.tags).toMatchObject(fetchTags({ 'http.url': `${base}/jaeger` }));
    const [traceId, spanId, parentId] = String(server.seen[0]!.headers['uber-trace-id']).split(':');
    expect(traceId!.padStart(16, '0')).toBe(child.traceId);
    expect(spanId!.padStart(16, '0')).toBe(child.spanId);
    expect(parentId!.padStart(16, '0')).toBe(parent.spanId);
  });

  it('OpenTelemetry shim: child span, ids linked, traceparent injected', async () => {
    const t = otelTracer();
    const { parent, child } = await underParent(() => undici.fetch(`${base}/otel`).then((r) => r.text()), t);
    expectChildOf(child, parent);
    expect(child.tags).toEqual(fetchTags({ 'http.url': `${base}/otel` }));
    expectInjected(child);
  });
});

describe('fetch hook: uninstall', () => {
  it('uninstallPatches ends the subscriptions: no span after', async () => {
    const dc = await import('node:diagnostics_channel');
    expect(dc.channel('undici:request:create').hasSubscribers).toBe(true);
    uninstallPatches();
    expect(dc.channel('undici:request:create').hasSubscribers).toBe(false);
    expect(dc.channel('undici:request:trailers').hasSubscribers).toBe(false);
    const parent: Span = rec.tracer.startSpan('parent');
    await runWithSpan(parent, () => fetch(`${base}/after`).then((r) => r.text()));
    parent.finish();
    expect(rec.spans().map((s) => s.operationName)).toEqual(['parent']);
    expect(server.seen[0]!.headers['traceparent']).toBeUndefined();
    installPatches(['fetch']);
    installPatches(['fetch']);
    const again = await underParent(() => fetch(`${base}/again`).then((r) => r.text()));
    expect(again.children).toHaveLength(1);
  });
});
