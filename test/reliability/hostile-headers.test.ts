/**
 * Hostile input: random and adversarial trace headers thrown at every
 * adapter with each real tracer (recorder, jaeger-client, OpenTelemetry
 * shim), by fast-check. For every input, the traced app answers exactly what
 * the untraced app answers, no exception escapes, no span stays open, and
 * the trace headers of the handler's outgoing call (fetch or http, to a
 * local echo server) are valid for the tracer's format or absent. Raw
 * sockets send what fetch cannot (CR, NUL, folded lines, bare LF, oversized
 * headers): Node's own parser behaviour (400, 431) is unchanged.
 */
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTraceState } from '@otinst/recorder';
import { jaegerTracer, otelTracer, recorderTracer } from '../support/tracers';
import type { FinishedSpan, TracerUnderTest } from '../support/tracers';
import {
  ADAPTERS,
  baseRoutes,
  buildApp,
  eventually,
  httpGet,
  ledger,
  rawExchange,
  rawShape,
  send,
  startEchoServer,
  watchProcessErrors,
} from './support';
import type { AdapterName, App, EchoServer, Route, SpanLedger } from './support';

/** Inputs tried per adapter × tracer (OTINST_FC_RUNS overrides). */
const RUNS = Number(process.env['OTINST_FC_RUNS'] ?? 150);
const TRACERS = [recorderTracer, jaegerTracer, otelTracer] as const;

// ---------------------------------------------------------------------------
// What a valid outgoing trace header looks like, per tracer

const TRACE_HEADER =
  /^(traceparent|tracestate|baggage|uber-trace-id|uberctx-.*|jaeger-.*|ot-tracer-.*|ot-baggage-.*|b3|x-b3-.*)$/;
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;
const UBER_TRACE_ID = /^[0-9a-f]{1,32}:[0-9a-f]{1,16}:[0-9a-f]{1,16}:[0-9a-f]{1,2}$/i;
/** What `encodeURIComponent` produces: jaeger-client encodes baggage values in HTTP headers. */
const URI_COMPONENT = /^[A-Za-z0-9\-_.!~*'()%]*$/;
const BAGGAGE_MEMBER = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+=[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/** Problems with the trace headers of one outgoing request; empty when all is well. */
function outgoingProblems(tracer: TracerUnderTest['name'], headers: http.IncomingHttpHeaders): string[] {
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(headers)) {
    if (!TRACE_HEADER.test(name)) continue;
    const value = Array.isArray(raw) ? raw.join(', ') : (raw ?? '');
    const show = `${name}: ${JSON.stringify(value.slice(0, 80))}${value.length > 80 ? `… (${value.length})` : ''}`;
    let valid: boolean;
    if (tracer === 'jaeger') {
      if (name === 'uber-trace-id') valid = UBER_TRACE_ID.test(value);
      else if (name.startsWith('uberctx-')) valid = URI_COMPONENT.test(value);
      else valid = false;
    } else if (name === 'traceparent') {
      valid = TRACEPARENT.test(value);
    } else if (name === 'tracestate') {
      valid = parseTraceState(value) === value;
    } else if (name === 'baggage' && tracer === 'recorder') {
      valid = value.split(',').every((member) => BAGGAGE_MEMBER.test(member));
    } else {
      valid = false;
    }
    if (!valid) problems.push(`invalid or foreign ${show}`);
  }
  if (tracer !== 'jaeger' && headers['traceparent'] === undefined) problems.push('no traceparent');
  return problems;
}

/**
 * The span id an outgoing request carries (as the normalised span views print
 * it), when the trace is sampled: an unsampled span is never recorded (a
 * hostile header may well say `sampled=0`).
 */
function injectedSpanId(tracer: TracerUnderTest['name'], headers: http.IncomingHttpHeaders): string | undefined {
  if (tracer === 'jaeger') {
    const value = headers['uber-trace-id'];
    if (typeof value !== 'string') return undefined;
    const [, spanId, , flags] = value.split(':');
    return (Number.parseInt(flags!, 16) & 1) === 1 ? spanId!.padStart(16, '0') : undefined;
  }
  const value = headers['traceparent'];
  return typeof value === 'string' && value.endsWith('-01') ? value.split('-')[2] : undefined;
}

// ---------------------------------------------------------------------------
// Hostile inputs

const HEX = '0123456789abcdef';
const hex = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...HEX, ...'ABCDEF'), minLength: min, maxLength: max });
const token = fc.string({ unit: fc.constantFrom(...'abcxyz019-_.!*~%'), minLength: 0, maxLength: 12 });
/** Percent-encoded payloads that a decoding tracer (jaeger, W3C baggage) turns into CR/LF and friends. */
const encodedNasties = fc.constantFrom('%0D%0A', '%0d%0aInjected:%20yes', '%00', '%0A', '%E2%80%A8', '%', '%ZZ', '%3A');

const latin1 = fc.string({
  unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
  maxLength: 20,
});
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
/** Any Unicode, sent as its UTF-8 bytes (Node reads them back as latin1); control characters left out. */
const utf8 = fc.string({ unit: 'grapheme', maxLength: 10 }).map((s) =>
  Buffer.from(s, 'utf8')
    .toString('latin1')
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ''),
);

const traceparentish = fc
  .tuple(hex(0, 3), hex(0, 40), hex(0, 20), hex(0, 3), fc.option(printable, { nil: undefined }))
  .map(([v, t, s, f, extra]) => [v, t, s, f].join('-') + (extra === undefined ? '' : `-${extra}`));
/** jaeger-client accepts any part that `parseInt(part, 16)` reads: a hex prefix is enough. */
const hexPrefixed = fc
  .tuple(hex(1, 16), fc.oneof(printable, encodedNasties))
  .map(([h, rest]) => h + rest.replaceAll(':', ''));
const uberish = fc.oneof(
  fc
    .array(fc.oneof(hex(0, 34), encodedNasties, printable), { minLength: 1, maxLength: 6 })
    .map((parts) => parts.join(':')),
  fc
    .tuple(hexPrefixed, hexPrefixed, fc.oneof(hexPrefixed, fc.constant('0')), hexPrefixed)
    .map((parts) => parts.join(':')),
);
const listish = fc
  .tuple(
    fc.array(fc.tuple(fc.oneof(token, printable), fc.oneof(token, printable, encodedNasties, latin1)), {
      maxLength: 8,
    }),
    fc.constantFrom(',', ', ', ';', ',,'),
  )
  .map(([members, separator]) => members.map(([k, v]) => `${k}=${v}`).join(separator));
const huge = fc
  .tuple(
    fc.constantFrom('f', '0', 'ab=cd,', '1:', '%0D%0A', 'é', 'k=%FF,', '-'),
    fc.integer({ min: 1000, max: 15_000 }),
  )
  .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length));

const value = fc.oneof(
  { weight: 3, arbitrary: traceparentish },
  { weight: 3, arbitrary: uberish },
  { weight: 2, arbitrary: listish },
  { weight: 2, arbitrary: printable },
  { weight: 1, arbitrary: latin1 },
  { weight: 1, arbitrary: utf8 },
  { weight: 1, arbitrary: encodedNasties },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: fc.constant('') },
);

const headerName = fc.oneof(
  fc.constantFrom(
    'traceparent',
    'tracestate',
    'baggage',
    'uber-trace-id',
    'jaeger-baggage',
    'jaeger-debug-id',
    'ot-tracer-traceid',
    'ot-tracer-spanid',
    'ot-tracer-sampled',
    'TraceParent',
    'Uber-Trace-Id',
  ),
  token.filter((k) => /^[a-z0-9!*~._-]*$/.test(k)).map((k) => `uberctx-${k}`),
  token.filter((k) => /^[a-z0-9!*~._-]*$/.test(k)).map((k) => `ot-baggage-${k}`),
);

/** Node's limit is 16 KiB for the whole header section: keep the hostile part under 15,000 bytes. */
function withinLimit(headers: [string, string][]): string[] {
  const flat: string[] = [];
  let size = 0;
  for (const [name, text] of headers) {
    size += name.length + text.length + 4;
    if (size > 15_000) break;
    flat.push(name, text);
  }
  return flat;
}

const headerList = fc
  .tuple(
    fc.array(fc.tuple(headerName, value), { minLength: 1, maxLength: 6 }),
    fc.nat({ max: 3 }), // how many times to repeat the first header
  )
  .map(([headers, repeats]) => withinLimit([...Array.from({ length: repeats }, () => headers[0]!), ...headers]));

const ROUTES = [
  'GET /users/7',
  'GET /call?via=fetch',
  'GET /call?via=http',
  'GET /fail',
  'GET /nowhere',
  'POST /upload',
];
const request = fc.record({ route: fc.constantFrom(...ROUTES), headers: headerList, body: printable });

// ---------------------------------------------------------------------------
// The apps

let echo: EchoServer;

/** The handler's outgoing call: fetch or http.get to the echo server, tagged with the caller's x-call-id. */
function callRoute(): Route {
  return {
    method: 'GET',
    path: '/call',
    handler: async ({ query, headers }) => {
      const id = String(headers['x-call-id']);
      const url = `${echo.url}/echo`;
      if (query['via'] === 'http') {
        const answer = await httpGet(url, { headers: { 'x-call-id': id } });
        return { status: 200, json: { upstream: answer.status, body: answer.body } };
      }
      const answer = await fetch(url, { headers: { 'x-call-id': id } });
      return { status: 200, json: { upstream: answer.status, body: await answer.text() } };
    },
  };
}

const watcher = watchProcessErrors();
/** Figures for docs/reliability.md, printed at the end. */
const figures: Record<string, unknown>[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  echo = await startEchoServer();
});

afterAll(async () => {
  agent.destroy();
  await echo?.close();
  watcher.stop();
  console.log(`[reliability/hostile] ${JSON.stringify(figures)}`);
});

interface Combo {
  adapter: AdapterName;
  tracer: TracerUnderTest;
  ledger: SpanLedger;
  plain: App;
  traced: App;
}

async function setUp(adapter: AdapterName, makeTracer: () => TracerUnderTest): Promise<Combo> {
  const tracer = makeTracer();
  const counted = ledger(tracer.tracer);
  const routes = [...baseRoutes(), callRoute()];
  const plain = await buildApp(adapter, routes, null);
  const traced = await buildApp(adapter, routes, counted.tracer);
  return { adapter, tracer, ledger: counted, plain, traced };
}

async function tearDown(combo: Combo | undefined): Promise<void> {
  await combo?.plain.close();
  await combo?.traced.close();
}

/** Every span finished exactly once, none left open, every outgoing call a child of its server span. */
async function expectCleanSpans(combo: Combo, calls: Map<string, string>): Promise<FinishedSpan[]> {
  await eventually(() => combo.ledger.open().length === 0);
  expect(combo.ledger.open().map((span) => span.context().toSpanId())).toEqual([]);
  expect(combo.ledger.finishedTwice()).toBe(0);
  if (combo.tracer.name === 'recorder') {
    expect((combo.tracer.tracer as unknown as { store: { unfinished(): unknown[] } }).store.unfinished()).toEqual([]);
  }
  const spans = combo.tracer.spans();
  // every sampled span was recorded (unsampled ones are not: a hostile header may say sampled=0)
  expect(spans.length).toBeLessThanOrEqual(combo.ledger.started());
  expect(spans.length).toBeGreaterThan(0);
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  for (const [callId, spanId] of calls) {
    const client = byId.get(spanId);
    expect(client, `the outgoing call ${callId} carries a span id the tracer never finished`).toBeDefined();
    expect(['fetch', 'http']).toContain(client!.tags['component']);
    const server = byId.get(client!.parentId ?? '');
    expect(server?.tags['span.kind'], `the client span of ${callId} is no child of a server span`).toBe('server');
    expect(server?.traceId).toBe(client!.traceId);
  }
  return spans;
}

describe.each(ADAPTERS)('%s: hostile trace headers', (adapter) => {
  describe.each(TRACERS.map((make) => [make().name, make] as const))('with %s', (_name, makeTracer) => {
    let combo: Combo | undefined;
    beforeAll(async () => {
      combo = await setUp(adapter, makeTracer);
    });
    afterAll(() => tearDown(combo));

    it(`answers as the untraced app for ${RUNS} random header sets, and propagates only valid headers`, async () => {
      const { plain, traced, tracer } = combo!;
      /** call id -> span id carried by the outgoing request */
      const calls = new Map<string, string>();
      let n = 0;
      let tried = 0;
      await fc.assert(
        fc.asyncProperty(request, async ({ route, headers, body }) => {
          tried++;
          const [method, path] = route.split(' ') as [string, string];
          const id = `${adapter}-${tracer.name}-${n++}`;
          const payload = method === 'POST' ? body : undefined;
          const send1 = (app: App, callId: string) =>
            send(app.url, { method, path, headers: [...headers, 'x-call-id', callId], body: payload, agent });
          const expected = await send1(plain, `u-${id}`);
          const actual = await send1(traced, `t-${id}`);
          expect(actual).toEqual(expected);
          if (path.startsWith('/call')) {
            expect(
              outgoingProblems('recorder', echo.received.get(`u-${id}`) ?? {}).filter((p) => p !== 'no traceparent'),
            ).toEqual([]);
            const outgoing = echo.received.get(`t-${id}`);
            expect(outgoing).toBeDefined();
            expect(outgoingProblems(tracer.name, outgoing!)).toEqual([]);
            const spanId = injectedSpanId(tracer.name, outgoing!);
            if (spanId !== undefined) calls.set(`t-${id}`, spanId);
          }
          echo.received.delete(`u-${id}`);
          echo.received.delete(`t-${id}`);
        }),
        { numRuns: RUNS },
      );
      expect(tried).toBeGreaterThanOrEqual(RUNS);
      const spans = await expectCleanSpans(combo!, calls);
      expect(watcher.errors).toEqual([]);
      figures.push({
        adapter,
        tracer: tracer.name,
        inputs: tried,
        outgoingCallsChecked: calls.size,
        spansStarted: combo!.ledger.started(),
        spansRecorded: spans.length,
        spansOpen: combo!.ledger.open().length,
      });
    });

    it('a header section beyond 16 KiB still gets Node’s own 431, and no span', async () => {
      const { plain, traced, ledger: counted } = combo!;
      const before = counted.started();
      const oversized = Buffer.from(
        `GET /users/7 HTTP/1.1\r\nHost: 127.0.0.1\r\ntraceparent: 00-${'a'.repeat(32)}-${'b'.repeat(16)}-01\r\n` +
          `uberctx-big: ${'x'.repeat(17_000)}\r\nConnection: close\r\n\r\n`,
        'latin1',
      );
      const expected = rawShape(await rawExchange(plain.port, oversized));
      const actual = rawShape(await rawExchange(traced.port, oversized));
      // Node's 431; hapi answers client errors itself, with a 400
      expect(expected.statusLine).toBe(
        adapter === 'hapi' ? 'HTTP/1.1 400 Bad Request' : 'HTTP/1.1 431 Request Header Fields Too Large',
      );
      expect(actual).toEqual(expected);
      expect(counted.started()).toBe(before);
      // the largest section Node accepts still goes through, traced
      const largest = await send(traced.url, { path: '/users/7', headers: ['uberctx-big', 'x'.repeat(15_500)], agent });
      expect(largest).toEqual({ status: 200, body: '{"id":"7"}' });
      await eventually(() => counted.open().length === 0);
      expect(counted.started()).toBe(before + 1);
      expect(counted.open()).toEqual([]);
    });

    it('baggage that the tracer expands on the way out stays within 8 KiB (no 431 downstream)', async () => {
      const { plain, traced, tracer } = combo!;
      // ten 1.3 KB baggage headers of `é` (one byte each on the wire): jaeger-client sends each
      // percent-encoded, six bytes per `é`; W3C baggage too, in one header
      const headers: string[] = [];
      for (let i = 0; i < 10; i++) headers.push(`uberctx-k${i}`, '\xe9'.repeat(1300));
      headers.push('baggage', Array.from({ length: 10 }, (_, i) => `k${i}=%C3%A9%C3%A9`).join(','));
      const id = `amplified-${adapter}-${tracer.name}`;
      const request = (app: App, callId: string) =>
        send(app.url, { path: '/call?via=http', headers: [...headers, 'x-call-id', callId], agent });
      const expected = await request(plain, `u-${id}`);
      expect(expected).toEqual({ status: 200, body: '{"upstream":200,"body":"echo"}' });
      expect(await request(traced, `t-${id}`)).toEqual(expected);
      const outgoing = echo.received.get(`t-${id}`)!;
      const traceBytes = Object.entries(outgoing)
        .filter(([name]) => TRACE_HEADER.test(name))
        .reduce((sum, [name, value]) => sum + name.length + String(value).length + 4, 0);
      expect(traceBytes).toBeLessThanOrEqual(8192);
      expect(outgoingProblems(tracer.name, outgoing)).toEqual([]);
      // the trace itself still goes on
      expect(injectedSpanId(tracer.name, outgoing)).toBeDefined();
    });

    it('raw requests with CR, LF, NUL, folded lines and encoded CRLF: same answers, no injected header', async () => {
      const { plain, traced, tracer, ledger: counted } = combo!;
      const calls = new Map<string, string>();
      const raws = rawRequests();
      for (const [index, raw] of raws.entries()) {
        const id = `raw-${adapter}-${tracer.name}-${index}`;
        const bytes = (callId: string) => Buffer.from(raw.replaceAll('{ID}', callId), 'latin1');
        const expected = rawShape(await rawExchange(plain.port, bytes(`u-${id}`)));
        const actual = rawShape(await rawExchange(traced.port, bytes(`t-${id}`)));
        expect(actual, `raw request ${index}: ${JSON.stringify(raw)}`).toEqual(expected);
        const outgoing = echo.received.get(`t-${id}`);
        if (outgoing !== undefined) {
          expect(outgoingProblems(tracer.name, outgoing), `raw request ${index}`).toEqual([]);
          expect(Object.keys(outgoing)).not.toContain('injected');
          const spanId = injectedSpanId(tracer.name, outgoing);
          if (spanId !== undefined) calls.set(`t-${id}`, spanId);
        }
      }
      // the parser rejects some of them (400) before any framework code runs; the rest were traced
      await eventually(() => counted.open().length === 0);
      expect(counted.open()).toEqual([]);
      expect(calls.size).toBeGreaterThan(0);
      await expectCleanSpans(combo!, calls);
      expect(watcher.errors).toEqual([]);
    });
  });
});

/** Requests that only a raw socket can send. `{ID}` becomes the call id. */
function rawRequests(): string[] {
  const head = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-call-id: {ID}\r\n`;
  const parent = `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-${'00f067aa0ba902b7'}-01`;
  return [
    // accepted by Node's parser
    `${head('/call?via=fetch')}traceparent:\t${parent}\t\r\n\r\n`,
    `${head('/call?via=http')}uber-trace-id: 1%0D%0AInjected:%20yes:2:0:1\r\n\r\n`,
    `${head('/call?via=fetch')}uber-trace-id: 4bf92f3577b34da6%0d%0aInjected: yes:1:0:1\r\n\r\n`,
    `${head('/call?via=http')}uber-trace-id: 4bf92f3577b34da6%0D%0AInjected%20yes:1:0:1\r\n\r\n`,
    `${head('/call?via=fetch')}uber-trace-id: 1zzz<script>alert(1)</script>:1:0:1\r\n\r\n`,
    `${head('/call?via=http')}uberctx-evil: a%0D%0AInjected:%20yes\r\njaeger-baggage: k=a%0D%0AInjected:%20yes\r\n\r\n`,
    `${head('/call?via=fetch')}baggage: k=a%0D%0AInjected:%20yes,j=%E2%80%A8\r\ntracestate: a=b%0D%0Ac\r\ntraceparent: ${parent}\r\n\r\n`,
    `${head('/call?via=http')}traceparent: ${parent}\r\ntraceparent: ${parent.replace('01', '00')}\r\n\r\n`,
    `${head('/call?via=fetch')}uber-trace-id: ${Buffer.from('😀:ü:0:1', 'utf8').toString('latin1')}\r\n\r\n`,
    `${head('/call?via=http')}uberctx-${'a'.repeat(8000)}: 1\r\n\r\n`,
    `${head('/call?via=fetch')}ot-tracer-traceid: \xff\xfe\r\nuber-trace-id: \xff:\xfe:0:1\r\n\r\n`,
    // rejected by Node's parser (400), the same with and without tracing
    `${head('/users/7')}traceparent: ${parent}\r\n  -folded\r\n\r\n`,
    `${head('/users/7')}uber-trace-id: 1:2:0:1\rInjected: yes\r\n\r\n`,
    `${head('/users/7')}traceparent: a\x00b\r\n\r\n`,
    `${head('/users/7')}traceparent: a\x7fb\r\n\r\n`,
    `${head('/users/7')}traceparent : ${parent}\r\n\r\n`,
    `${head('/users/7')}this line has no colon\r\n\r\n`,
    `GET /users/7 HTTP/1.1\nHost: 127.0.0.1\nConnection: close\ntraceparent: ${parent}\n\n`,
  ];
}

// ---------------------------------------------------------------------------
// Hostile Host headers and request targets (issues 11 and 12): `http.url` was the raw Host
// header glued to the target (`Host: admin.internal/admin?x=` gave a misleading URL, `OPTIONS *`
// gave `http://h*`, `GET HTTP://user:pw@h/x` kept the credentials and made
// `http://127.0.0.1HTTP://user:…`).

const hostHeader = fc.oneof(
  fc.constantFrom('svc.internal', 'svc.internal:8080', '10.0.0.7:81', '[::1]:8080', 'UPPER.Example', 'h.'),
  fc.constantFrom('admin.internal/admin/delete?x=', 'a@b', 'user:pw@evil', 'h#frag', 'h?q=1', 'h:port', '[::1', ''),
  fc.constantFrom('0', 'a.0', '0x7f', '1.2.3', '256.1.1.1', '127.0.0.1', '[:::]', '[::ffff:1.2.3.4]:1'),
  printable,
);
const target = fc.oneof(
  fc.constantFrom('/users/7', '/users/7?password=planted&page=2', '/users/7?a=1#access_token=planted', '*'),
  fc
    .tuple(
      fc.constantFrom('http', 'HTTP', 'Http', 'hTTp', 'https', 'HTTPS'),
      fc.constantFrom('', 'user:planted@', 'planted@', 'a@b@'),
      fc.constantFrom('svc.internal', '127.0.0.1:1', '[::1]'),
      fc.constantFrom('/users/7', '/users/7?token=planted', ''),
    )
    .map(([scheme, userinfo, host, path]) => `${scheme}://${userinfo}${host}${path}`),
);

describe.each(ADAPTERS)('%s: hostile Host headers and request targets', (adapter) => {
  let combo: Combo | undefined;
  beforeAll(async () => {
    combo = await setUp(adapter, recorderTracer);
  });
  afterAll(() => tearDown(combo));

  it('same answers as untraced; http.url is a well-formed URL with no credentials, no planted value, and a valid host', async () => {
    const { plain, traced, tracer } = combo!;
    const local = `127.0.0.1:${traced.port}`;
    await fc.assert(
      fc.asyncProperty(hostHeader, target, async (host, path) => {
        tracer.reset();
        const method = path === '*' ? 'OPTIONS' : 'GET';
        const bytes = Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1');
        // Connection: close ends each exchange; the long idle limit only matters on a loaded machine
        const expected = rawShape(await rawExchange(plain.port, bytes, 5000));
        const actual = rawShape(await rawExchange(traced.port, bytes, 5000));
        expect(actual).toEqual(expected);
        await eventually(() => combo!.ledger.open().length === 0);
        for (const span of tracer.spans()) {
          const url = String(span.tags['http.url']);
          const parsed = new URL(url);
          expect(url).not.toMatch(/planted/);
          expect(parsed.username + parsed.password).toBe('');
          expect(['http:', 'https:']).toContain(parsed.protocol);
          if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
            // origin-form: the Host header only when it is host[:port], else the local address
            const sent = host.trim();
            const recorded = url.slice('http://'.length);
            // the Host header as sent when it is a valid host[:port], else the local address
            if (!recorded.startsWith(local)) expect(recorded.startsWith(sent) && sent !== '').toBe(true);
          }
        }
      }),
      { numRuns: Math.max(20, Math.round(RUNS / 3)) },
    );
    expect(watcher.errors).toEqual([]);
  });
});
