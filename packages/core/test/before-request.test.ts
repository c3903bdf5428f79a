import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MockTracer, Span as NoopSpan, Tracer as NoopTracer } from 'opentracing';
import type { Span, SpanOptions, Tracer } from 'opentracing';
import { beforeRequest, configure, NodeRequestWrapper, resetConfig, setDebugLogger } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { jaegerTracer } from '../../../test/support/tracers';

/**
 * `beforeRequest` over a real Node HTTP server: requests are written byte by
 * byte on a raw socket, so the tests control exactly what goes over the wire
 * (header case, repeated headers, sizes, no Host header).
 */

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;

let tracer: Tracer;
let lastSpan: Span | undefined;

function handler(req: IncomingMessage, res: ServerResponse): void {
  lastSpan = beforeRequest(NodeRequestWrapper.fromIncomingMessage(req), tracer);
  lastSpan.finish();
  res.setHeader('connection', 'close');
  res.end('ok');
}

interface RawResponse {
  status: number;
  /** The client's own port: what the server must tag as `peer.port`. */
  clientPort: number;
}

/** Sends `head` (request line and header lines, no final blank line) on a fresh socket. */
function rawRequest(port: number, head: string, host = '127.0.0.1'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let clientPort = 0;
    let data = '';
    const socket = connect({ host, port }, () => {
      clientPort = socket.localPort!;
      socket.write(`${head}\r\n\r\n`);
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve({ status: Number(data.split(' ')[1]), clientPort }));
    socket.on('error', reject);
  });
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

// headers up to 1 MiB, so that the 64 KiB values reach the handler (Node's default limit is 16 KiB)
const server4 = createServer({ maxHeaderSize: 1 << 20 }, handler);
const server6 = createServer(handler);
let port = 0;
let port6 = 0;

beforeAll(async () => {
  port = await listen(server4, '127.0.0.1');
  port6 = await listen(server6, '::1');
});
afterAll(() => {
  server4.close();
  server6.close();
});
afterEach(() => {
  resetConfig();
  setDebugLogger(undefined);
  lastSpan = undefined;
});

const get = (path: string, ...headers: string[]) =>
  rawRequest(port, [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close', ...headers].join('\r\n'));

describe('beforeRequest with the recording tracer', () => {
  const recorder = new RecordingTracer({ serviceName: 'server' });
  const only = () => {
    const spans = recorder.spans();
    expect(spans).toHaveLength(1);
    return spans[0]!;
  };
  beforeAll(() => {
    tracer = recorder;
  });
  afterEach(() => recorder.reset());

  it('continues the trace of a valid traceparent and tags the server span', async () => {
    const { status, clientPort } = await get('/users/7?verbose=1', `traceparent: ${VALID}`);
    expect(status).toBe(200);
    const span = only();
    expect(span.operationName).toBe('GET');
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentId).toBe(SPAN_ID);
    expect(span.spanId).not.toBe(SPAN_ID);
    expect(span.tags).toEqual({
      'span.kind': 'server',
      'http.method': 'GET',
      'http.url': `http://127.0.0.1:${port}/users/7?verbose=1`,
      'peer.ipv4': '127.0.0.1',
      'peer.port': clientPort,
    });
  });

  it('keeps the other methods and the sampled flag', async () => {
    await rawRequest(
      port,
      ['DELETE /items/1 HTTP/1.1', 'Host: api.example', 'Connection: close', `traceparent: ${VALID}`].join('\r\n'),
    );
    const span = only();
    expect(span.operationName).toBe('DELETE');
    expect(span.tags['http.method']).toBe('DELETE');
    expect(span.tags['http.url']).toBe('http://api.example/items/1');
  });

  it('header names sent in any case are understood (TraceParent, TRACESTATE, Baggage)', async () => {
    await get('/', `TraceParent: ${VALID}`, 'TRACESTATE: vendor=abc', 'Baggage: user=alice');
    const span = only();
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentId).toBe(SPAN_ID);
    expect(span.baggage).toEqual({ user: 'alice' });
    const context = (lastSpan as unknown as { context(): { traceState?: string } }).context();
    expect(context.traceState).toBe('vendor=abc');
  });

  it('starts a new root span when there is no trace header', async () => {
    await get('/');
    await get('/');
    const [first, second] = recorder.spans();
    for (const span of [first!, second!]) {
      expect(span.parentId).toBeUndefined();
      expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.tags['span.kind']).toBe('server');
    }
    expect(first!.traceId).not.toBe(second!.traceId);
  });

  const big = 'a'.repeat(64 * 1024);
  const hostile: [string, string[]][] = [
    ['garbage', ['traceparent: hello world']],
    ['an empty value', ['traceparent: ']],
    ['a 64 KiB value', [`traceparent: ${big}`]],
    ['a valid value padded to 64 KiB', [`traceparent: ${VALID}-${big}`]],
    [
      'the header sent twice (Node joins them)',
      [`traceparent: ${VALID}`, `traceparent: 00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`],
    ],
    ['an all-zero trace id', [`traceparent: 00-${'0'.repeat(32)}-${SPAN_ID}-01`]],
    ['an all-zero span id', [`traceparent: 00-${TRACE_ID}-${'0'.repeat(16)}-01`]],
    ['upper-case hex', [`traceparent: 00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`]],
    ['version ff', [`traceparent: ff-${TRACE_ID}-${SPAN_ID}-01`]],
    ['non-hex characters', [`traceparent: 00-${'g'.repeat(32)}-${SPAN_ID}-01`]],
    ['a jaeger header the recorder does not speak', [`uber-trace-id: ${TRACE_ID}:${SPAN_ID}:0:1`]],
  ];
  for (const [what, headers] of hostile) {
    it(`a traceparent with ${what} gives a new root span and a normal response`, async () => {
      const { status } = await get('/hostile', ...headers);
      expect(status).toBe(200);
      const span = only();
      expect(span.parentId).toBeUndefined();
      expect(span.traceId).not.toBe(TRACE_ID);
      expect(span.traceId).toMatch(/^(?!0+$)[0-9a-f]{32}$/);
      expect(span.tags['http.url']).toBe(`http://127.0.0.1:${port}/hostile`);
    });
  }

  it('64 KiB tracestate and baggage values are dropped, the valid traceparent still counts', async () => {
    await get('/', `traceparent: ${VALID}`, `tracestate: k=${big}`, `baggage: k=${big}`);
    const span = only();
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentId).toBe(SPAN_ID);
    expect(span.baggage).toEqual({});
    expect((lastSpan as unknown as { context(): { traceState?: string } }).context().traceState).toBeUndefined();
  });

  it('a 64 KiB caller-name header is tagged as sent, without harm', async () => {
    configure({ callerNameHeaders: ['x-caller'] });
    await get('/', `x-caller: ${big}`);
    expect(only().tags['peer.service']).toBe(big);
  });

  it('tags peer.ipv6 for a client on ::1, and the URL keeps the bracketed host', async () => {
    const { clientPort } = await rawRequest(
      port6,
      ['GET /v6 HTTP/1.1', `Host: [::1]:${port6}`, 'Connection: close'].join('\r\n'),
      '::1',
    );
    const span = only();
    expect(span.tags['peer.ipv6']).toBe('::1');
    expect(span.tags['peer.ipv4']).toBeUndefined();
    expect(span.tags['peer.port']).toBe(clientPort);
    expect(span.tags['http.url']).toBe(`http://[::1]:${port6}/v6`);
  });

  describe('peer.service from configure({ callerNameHeaders })', () => {
    it('matches header names case-insensitively, in both the setting and the request', async () => {
      configure({ callerNameHeaders: ['X-Caller-Name'] });
      await get('/', 'X-CALLER-NAME: billing');
      expect(only().tags['peer.service']).toBe('billing');
    });

    it('the first configured header present wins, whatever the order on the wire', async () => {
      configure({ callerNameHeaders: ['x-caller', 'x-service-name'] });
      await get('/', 'x-service-name: second', 'x-caller: first');
      expect(only().tags['peer.service']).toBe('first');
      recorder.reset();
      await get('/', 'x-service-name: second');
      expect(only().tags['peer.service']).toBe('second');
    });

    it('an empty header does not count as a match', async () => {
      configure({ callerNameHeaders: ['x-caller', 'x-service-name'] });
      await get('/', 'x-caller: ', 'x-service-name: second');
      expect(only().tags['peer.service']).toBe('second');
    });

    it('no tag when no configured header is present, or nothing is configured', async () => {
      await get('/', 'x-caller: first');
      expect(only().tags).not.toHaveProperty('peer.service');
      recorder.reset();
      configure({ callerNameHeaders: ['x-caller'] });
      await get('/', 'x-other: first');
      expect(only().tags).not.toHaveProperty('peer.service');
    });
  });
});

/** opentracing's MockTracer, recording the options each span was started with. */
class ObservedMockTracer extends MockTracer {
  readonly started: SpanOptions[] = [];
  protected override _startSpan(name: string, fields: SpanOptions) {
    this.started.push(fields);
    return super._startSpan(name, fields);
  }
}

describe("beforeRequest with opentracing's MockTracer (extract throws, startSpan ignores tags)", () => {
  const mock = new ObservedMockTracer();
  beforeAll(() => {
    tracer = mock;
  });

  it('gives a root span carrying every tag, and logs the failing extract once', async () => {
    const messages: string[] = [];
    setDebugLogger((message) => messages.push(message));
    const first = await get('/a?b=1', `traceparent: ${VALID}`);
    const second = await get('/a?b=1');
    expect([first.status, second.status]).toEqual([200, 200]);
    const spans = mock.report().spans;
    expect(spans).toHaveLength(2);
    for (const options of mock.started) expect(options.references ?? []).toEqual([]);
    expect(spans[0]!.operationName()).toBe('GET');
    expect(spans[0]!.tags()).toEqual({
      'span.kind': 'server',
      'http.method': 'GET',
      'http.url': `http://127.0.0.1:${port}/a?b=1`,
      'peer.ipv4': '127.0.0.1',
      'peer.port': first.clientPort,
    });
    expect(spans[0]!.durationMs()).toBeGreaterThanOrEqual(0);
    expect(messages).toEqual(['tracer.extract(http_headers) failed']);
  });
});

describe('beforeRequest with jaeger-client (uber-trace-id)', () => {
  const jaeger = jaegerTracer('server');
  beforeAll(() => {
    tracer = jaeger.tracer;
  });
  afterEach(() => jaeger.reset());

  it('continues the trace of an uber-trace-id header: same trace id, parent = the caller span', async () => {
    const headers = jaeger.parentHeaders(TRACE_ID, SPAN_ID);
    const { clientPort } = await get('/orders', `uber-trace-id: ${headers['uber-trace-id']}`);
    const [span] = jaeger.spans();
    expect(span!.operationName).toBe('GET');
    expect(span!.traceId).toBe(TRACE_ID.slice(-16));
    expect(span!.parentId).toBe(SPAN_ID);
    expect(span!.tags).toMatchObject({
      'span.kind': 'server',
      'http.method': 'GET',
      'http.url': `http://127.0.0.1:${port}/orders`,
      'peer.ipv4': '127.0.0.1',
      'peer.port': clientPort,
    });
  });

  it('a two-hop chain keeps one trace id: the injected header of one server span is continued by the next', async () => {
    const headers = jaeger.parentHeaders(TRACE_ID, SPAN_ID);
    await get('/hop1', `uber-trace-id: ${headers['uber-trace-id']}`);
    const carrier: Record<string, string> = {};
    jaeger.tracer.inject(lastSpan!.context(), 'http_headers', carrier);
    await get('/hop2', `uber-trace-id: ${carrier['uber-trace-id']}`);
    const [hop1, hop2] = jaeger.spans();
    expect(hop2!.traceId).toBe(hop1!.traceId);
    expect(hop2!.parentId).toBe(hop1!.spanId);
  });

  for (const value of ['garbage', '0:0:0:1', 'zzzz:yyyy:0:1', 'a'.repeat(64 * 1024)]) {
    it(`an invalid uber-trace-id (${value.slice(0, 16)}) gives a new root span`, async () => {
      const { status } = await get('/', `uber-trace-id: ${value}`);
      expect(status).toBe(200);
      const [span] = jaeger.spans();
      expect(span!.parentId).toBeUndefined();
      expect(span!.tags['span.kind']).toBe('server');
    });
  }

  it('a W3C traceparent (not jaeger speech) gives a new root span', async () => {
    await get('/', `traceparent: ${VALID}`);
    const [span] = jaeger.spans();
    expect(span!.parentId).toBeUndefined();
  });
});

describe('beforeRequest without a tracer', () => {
  it("uses opentracing's global tracer looked up per call", async () => {
    const { initGlobalTracer } = await import('opentracing');
    tracer = undefined as unknown as Tracer;
    await get('/');
    // the default global tracer is the no-op tracer
    expect(lastSpan).toBeInstanceOf(NoopSpan);
    const late = new RecordingTracer();
    initGlobalTracer(late);
    await get('/late', `traceparent: ${VALID}`);
    const [span] = late.spans();
    expect(span!.traceId).toBe(TRACE_ID);
    expect(span!.tags['http.url']).toBe(`http://127.0.0.1:${port}/late`);
  });
});

describe("opentracing's own Tracer class: the no-op tracer and tracers built on it", () => {
  /** A no-op tracer that counts and keeps what its span methods are given (a subclass: asked as usual). */
  class CountingNoopTracer extends NoopTracer {
    readonly extracted: unknown[] = [];
    readonly started: SpanOptions[] = [];
    protected override _extract(format: string, carrier: unknown) {
      this.extracted.push(carrier);
      return super._extract(format, carrier);
    }
    protected override _startSpan(name: string, fields: SpanOptions) {
      this.started.push(fields);
      return super._startSpan(name, fields);
    }
  }

  it('the plain no-op tracer gives the one no-op span, and the request is answered', async () => {
    tracer = new NoopTracer();
    const first = await get('/plain', `traceparent: ${VALID}`);
    const firstSpan = lastSpan;
    await get('/plain');
    expect(first.status).toBe(200);
    expect(firstSpan).toBe(new NoopTracer().startSpan('any'));
    expect(lastSpan).toBe(firstSpan);
  });

  it('a subclass is asked: extract gets the headers, startSpan a childOf reference to what extract found', async () => {
    const counting = new CountingNoopTracer();
    tracer = counting;
    await get('/counted', `traceparent: ${VALID}`);
    expect(counting.extracted).toHaveLength(1);
    expect((counting.extracted[0] as Record<string, string>).traceparent).toBe(VALID);
    expect(counting.started).toHaveLength(1);
    const [reference] = counting.started[0]!.references!;
    expect(counting.started[0]!.references).toHaveLength(1);
    expect(reference!.type()).toBe('child_of');
    expect(reference!.referencedContext()).toBe(new NoopTracer().extract('http_headers', {}));
    // the base class converts childOf and deletes it; otinst hands the reference over directly
    expect(counting.started[0]).not.toHaveProperty('childOf');
  });
});

// issue 12: a user's own RequestWrapper got no URL protection and no caller name from the configured headers
describe("a user's own RequestWrapper gets the same URL rules and caller name as NodeRequestWrapper", () => {
  afterEach(() => resetConfig());

  it('credentials (any scheme case) and sensitive query values never reach http.url; peer.service from the headers', () => {
    configure({ callerNameHeaders: ['x-caller'] });
    const recording = new RecordingTracer();
    const span = beforeRequest(
      {
        method: 'GET',
        operation: 'GET',
        path: '/x',
        fullUrl: 'HTTPS://admin:pw@svc.local/x?password=hunter2&id=7',
        headers: { 'x-caller': 'billing' },
      },
      recording,
    );
    span.finish();
    expect(recording.spans()[0]!.tags).toMatchObject({
      'http.url': 'https://svc.local/x?password=REDACTED&id=7',
      'peer.service': 'billing',
    });
  });

  it("the wrapper's own callerName wins over the headers", () => {
    configure({ callerNameHeaders: ['x-caller'] });
    const recording = new RecordingTracer();
    beforeRequest(
      {
        method: 'GET',
        operation: 'GET',
        path: '/',
        fullUrl: 'http://svc.local/',
        headers: { 'x-caller': 'billing' },
        callerName: 'own',
      },
      recording,
    ).finish();
    expect(recording.spans()[0]!.tags['peer.service']).toBe('own');
  });
});
