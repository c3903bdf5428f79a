import { describe, expect, it } from 'vitest';
import { FORMAT_HTTP_HEADERS } from 'opentracing';
import { formatTrace, RecordingTracer, SpanStore } from '@otinst/recorder';
import type { RecordedSpan } from '@otinst/recorder';

/**
 * A small two-service trace with fixed times (ms): the api's server span
 * 1000–1100, its pg query 1010–1030, its failed client call 1040–1090, and the
 * users service's server span for that call 1045–1085.
 */
function buildTrace(): { spans: RecordedSpan[]; traceId: string } {
  const store = new SpanStore();
  const api = new RecordingTracer({ serviceName: 'api', store });
  const users = new RecordingTracer({ serviceName: 'users', store });
  const root = api.startSpan('GET /users/:id', { startTime: 1000, tags: { 'http.status_code': 200 } });
  const query = api.startSpan('pg:SELECT', {
    childOf: root,
    startTime: 1010,
    tags: { 'db.statement': 'SELECT name FROM users WHERE id = $1' },
  });
  query.finish(1030);
  const client = api.startSpan('GET', { childOf: root, startTime: 1040 });
  const headers: Record<string, string> = {};
  api.inject(client, FORMAT_HTTP_HEADERS, headers);
  const served = users.startSpan('GET /x', { childOf: users.extract(FORMAT_HTTP_HEADERS, headers)!, startTime: 1045 });
  served.finish(1085);
  client.addTags({ 'http.status_code': 503, error: true });
  client.finish(1090);
  root.finish(1100);
  const spans = store.spans();
  return { spans, traceId: spans[0]!.traceId };
}

describe('formatTrace', () => {
  it('prints the tree with bars, services, durations, error marks and key tags', () => {
    const { spans, traceId } = buildTrace();
    expect(formatTrace(spans, { barWidth: 10 }).split('\n')).toEqual([
      `trace ${traceId}  100.0ms`,
      '|██████████| GET /users/:id  [api] 100.0ms  http.status_code=200',
      '| ██       | ├─ pg:SELECT  [api] 20.0ms  db.statement=SELECT name FROM users WHERE id = $1',
      '|    █████ | └─ GET ✖ error  [api] 50.0ms  http.status_code=503',
      '|    ████  |    └─ GET /x  [users] 40.0ms',
    ]);
  });

  it('the default bar is 24 characters wide; barWidth 0 hides it', () => {
    const { spans } = buildTrace();
    const lines = formatTrace(spans).split('\n');
    expect(lines[1]).toBe(`|${'█'.repeat(24)}| GET /users/:id  [api] 100.0ms  http.status_code=200`);
    // pg: starts at 10% (column floor(2.4) = 2), lasts 20% (round(4.8) = 5 columns)
    expect(lines[2]!.slice(0, 27)).toBe(`|  ${'█'.repeat(5)}${' '.repeat(17)}| `);
    expect(formatTrace(spans, { barWidth: 0 }).split('\n').slice(1)).toEqual([
      'GET /users/:id  [api] 100.0ms  http.status_code=200',
      '├─ pg:SELECT  [api] 20.0ms  db.statement=SELECT name FROM users WHERE id = $1',
      '└─ GET ✖ error  [api] 50.0ms  http.status_code=503',
      '   └─ GET /x  [users] 40.0ms',
    ]);
  });

  it('siblings are ordered by start time, and the prefixes continue under a non-last child', () => {
    const tracer = new RecordingTracer({ serviceName: 's' });
    const root = tracer.startSpan('root', { startTime: 0 });
    const second = tracer.startSpan('second', { childOf: root, startTime: 20 });
    const first = tracer.startSpan('first', { childOf: root, startTime: 10 });
    tracer.startSpan('deep', { childOf: first, startTime: 11 }).finish(12);
    first.finish(15);
    second.finish(30);
    root.finish(40);
    expect(formatTrace(tracer.spans(), { barWidth: 0 }).split('\n').slice(1)).toEqual([
      'root  [s] 40.0ms',
      '├─ first  [s] 5.0ms',
      '│  └─ deep  [s] 1.0ms',
      '└─ second  [s] 10.0ms',
    ]);
  });

  it('chooses the tags shown, and shortens long values', () => {
    const tracer = new RecordingTracer({ serviceName: 's' });
    const span = tracer.startSpan('op', { startTime: 0, tags: { a: 'x'.repeat(100), b: { n: 1 }, c: 'hidden' } });
    span.finish(2);
    expect(formatTrace(tracer.spans(), { barWidth: 0, tags: ['a', 'b', 'missing'] }).split('\n')[1]).toBe(
      `op  [s] 2.0ms  a=${'x'.repeat(59)}… b={"n":1}`,
    );
  });

  it('durations: microseconds below 1 ms, seconds from 1 s', () => {
    const tracer = new RecordingTracer({ serviceName: 's' });
    const root = tracer.startSpan('slow', { startTime: 0 });
    tracer.startSpan('fast', { childOf: root, startTime: 1 }).finish(1.25);
    root.finish(2500);
    expect(formatTrace(tracer.spans(), { barWidth: 0 }).split('\n')).toEqual([
      `trace ${tracer.spans()[0]!.traceId}  2.50s`,
      'slow  [s] 2.50s',
      '└─ fast  [s] 250µs',
    ]);
  });

  it('a span whose parent is not among the spans is printed as a root', () => {
    const { spans } = buildTrace();
    const withoutRoot = spans.filter((span) => span.operationName !== 'GET /users/:id');
    expect(formatTrace(withoutRoot, { barWidth: 0 }).split('\n').slice(1)).toEqual([
      'pg:SELECT  [api] 20.0ms  db.statement=SELECT name FROM users WHERE id = $1',
      'GET ✖ error  [api] 50.0ms  http.status_code=503',
      '└─ GET /x  [users] 40.0ms',
    ]);
  });

  it('color: red errors, dim details (ANSI)', () => {
    const { spans } = buildTrace();
    const lines = formatTrace(spans, { barWidth: 0, color: true }).split('\n');
    expect(lines[3]).toBe(
      '└─ \u001b[31mGET ✖ error\u001b[0m  \u001b[2m[api] 50.0ms\u001b[0m  \u001b[2mhttp.status_code=503\u001b[0m',
    );
  });

  it('a span listed as its own parent (foreign data) does not loop forever', () => {
    const { spans } = buildTrace();
    const selfParent = { ...spans[0]!, parentId: spans[0]!.spanId };
    const output = formatTrace([selfParent], { barWidth: 0 }).split('\n');
    expect(output.slice(1)).toEqual(['pg:SELECT  [api] 20.0ms  db.statement=SELECT name FROM users WHERE id = $1']);
  });

  it('no spans', () => {
    expect(formatTrace([])).toBe('(no spans)');
  });
  // the demo printed a column of bare `GET`s: which service did each call go to?
  it('client HTTP spans show their target host after the (unchanged) operation name', () => {
    const tracer = new RecordingTracer({ serviceName: 'api' });
    const root = tracer.startSpan('GET /orders/:id', {
      startTime: 0,
      tags: { 'span.kind': 'server', 'peer.port': 5555 },
    });
    const client = (tags: Record<string, unknown>, at: number) =>
      tracer
        .startSpan('GET', {
          childOf: root,
          startTime: at,
          tags: { 'span.kind': 'client', 'http.method': 'GET', ...tags },
        })
        .finish(at + 1);
    client({ 'peer.hostname': 'users.internal', 'peer.port': 8080, 'http.url': 'http://users.internal:8080/x' }, 1);
    client({ 'peer.ipv4': '127.0.0.1', 'peer.port': 4001 }, 2);
    client({ 'peer.ipv6': '::1', 'peer.port': 4002 }, 3);
    client({ 'http.url': 'https://api.example/users?id=7' }, 4);
    client({ 'peer.hostname': 'cache.internal', error: true }, 5);
    tracer
      .startSpan('pg:SELECT', { childOf: root, startTime: 6, tags: { 'span.kind': 'client', 'peer.hostname': 'db' } })
      .finish(7);
    root.finish(10);
    const names = (options: { target?: boolean }) =>
      formatTrace(tracer.spans(), { barWidth: 0, tags: [], ...options })
        .split('\n')
        .slice(1)
        .map((line) => line.replace(/ {2}\[api\].*$/, ''));
    expect(names({})).toEqual([
      'GET /orders/:id',
      '├─ GET → users.internal:8080',
      '├─ GET → 127.0.0.1:4001',
      '├─ GET → [::1]:4002',
      '├─ GET → api.example',
      '├─ GET → cache.internal ✖ error',
      '└─ pg:SELECT',
    ]);
    expect(names({ target: false }).slice(1, 3)).toEqual(['├─ GET', '├─ GET']);
    expect(tracer.spans().map((span) => span.operationName)).toContain('GET');
  });
});
