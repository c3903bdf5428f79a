/**
 * Header injection at the carrier: a tracer whose `inject` writes CR/LF,
 * control characters, non-latin1 text, huge values or bad header names
 * (fast-check picks them). Whatever it writes, `beforeHttpRequest` sets only
 * headers that Node and undici accept, the real `http.get` and `fetch` calls
 * still succeed, and nothing the tracer smuggled reaches the wire as a
 * header of its own.
 */
import fc from 'fast-check';
import type { SpanContext } from 'opentracing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beforeHttpRequest, installPatches, runWithSpan } from '@otinst/core';
import type { HttpClientRequest } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { eventually, httpGet, startEchoServer, watchProcessErrors } from './support';
import type { EchoServer } from './support';

const RUNS = Number(process.env['OTINST_FC_RUNS'] ?? 150);

/** What Node's `http` (checkInvalidHeaderChar) and undici accept in a header value. */
const WIRE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

/** A recording tracer whose inject also writes whatever the test asks. */
class SmugglingTracer extends RecordingTracer {
  extra: [string, string][] = [];

  protected override _inject(context: SpanContext, format: string, carrier: unknown): void {
    super._inject(context, format, carrier);
    for (const [name, value] of this.extra) (carrier as Record<string, string>)[name] = value;
  }
}

const crlf = fc.constantFrom(
  '\r\n',
  '\r',
  '\n',
  '\u0000',
  '\u007f',
  '\r\nInjected: yes',
  '\r\n\r\nGET /smuggled HTTP/1.1\r\n',
);
const anyText = fc.string({ unit: 'binary', maxLength: 30 });
const smuggledValue = fc.oneof(
  fc.tuple(anyText, crlf, anyText).map(([a, b, c]) => a + b + c),
  anyText,
  fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 10 }),
  fc.string({ unit: fc.constantFrom('é', '€', '😀', '\u2028', 'x'), maxLength: 10 }),
  fc.integer({ min: 8000, max: 20_000 }).map((n) => 'v'.repeat(n)),
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
);
const smuggledName = fc.oneof(
  fc.constantFrom('traceparent', 'uber-trace-id', 'x-ok', 'Injected', 'bad name', 'bad:name', '', 'x\r\ny', 'é'),
  // framing and routing headers: a tracer has no business setting them
  fc.constantFrom('content-length', 'Transfer-Encoding', 'host', 'connection', 'expect', 'upgrade', 'te', 'trailer'),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom(...'abcxyz-_!~'), minLength: 1, maxLength: 12 }),
);
const smuggled = fc.uniqueArray(fc.tuple(smuggledName, smuggledValue), {
  minLength: 1,
  maxLength: 5,
  selector: ([name]) => name,
});

/** Headers http.get and fetch send themselves, plus the W3C ones the recording tracer writes. */
const CLIENT_HEADERS = new Set([
  'host',
  'connection',
  'x-call-id',
  'accept',
  'accept-language',
  'accept-encoding',
  'sec-fetch-mode',
  'user-agent',
  'traceparent',
]);

const tracer = new SmugglingTracer({ serviceName: 'carrier' });
const watcher = watchProcessErrors();
let echo: EchoServer;

beforeAll(async () => {
  installPatches(['http', 'fetch']);
  echo = await startEchoServer();
});

afterAll(async () => {
  await echo?.close();
  watcher.stop();
});

function fakeRequest(set: [string, string][]): HttpClientRequest {
  return {
    method: 'GET',
    fullUrl: 'http://127.0.0.1:8080/x',
    host: '127.0.0.1',
    port: 8080,
    getHeader: () => undefined,
    setHeader: (name, value) => set.push([name, value]),
  };
}

/** A pair a careful filter must keep: a token name, a short printable value, no format to check. */
function plainlyValid([name, value]: [string, string]): boolean {
  return TOKEN.test(name) && /^[\x20-\x7e]{0,200}$/.test(value) && !CHECKED.has(name.toLowerCase());
}

/** Names core checks further: propagation formats it knows, and headers that frame or route the request. */
const CHECKED = new Set([
  'traceparent',
  'uber-trace-id',
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'expect',
  'upgrade',
  'te',
  'trailer',
]);

describe('a tracer that writes CR/LF and worse into the carrier', () => {
  it(`beforeHttpRequest sets only wire-safe headers (${RUNS} carriers)`, () => {
    fc.assert(
      fc.property(smuggled, (pairs) => {
        tracer.extra = pairs;
        const parent = tracer.startSpan('parent');
        const set: [string, string][] = [];
        const span = runWithSpan(parent, () => beforeHttpRequest(fakeRequest(set)));
        expect(span).not.toBeNull();
        span!.finish();
        parent.finish();
        for (const [name, value] of set) {
          expect(name).toMatch(TOKEN);
          // a tracer never frames or routes the request
          if (name.toLowerCase() !== 'traceparent' && name.toLowerCase() !== 'uber-trace-id') {
            expect(CHECKED.has(name.toLowerCase()), name).toBe(false);
          }
          expect(value.length).toBeLessThanOrEqual(8192);
          expect(value, `${name}: ${JSON.stringify(value.slice(0, 60))}`).toMatch(WIRE_VALUE);
        }
        // a traceparent goes out only well formed; the tracer's own one is there unless the tracer overwrote it
        const traceparent = set.filter(([name]) => name.toLowerCase() === 'traceparent');
        for (const [, value] of traceparent) expect(value).toMatch(TRACEPARENT);
        if (!pairs.some(([name]) => name === 'traceparent')) expect(traceparent.length).toBeGreaterThanOrEqual(1);
        for (const pair of pairs.filter(plainlyValid)) expect(set).toContainEqual(pair);
      }),
      { numRuns: RUNS },
    );
    expect(tracer.store.unfinished()).toEqual([]);
  });

  it.each(['http', 'fetch'] as const)(
    `real %s calls still succeed, and no smuggled header reaches the server (${RUNS} carriers)`,
    async (client) => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(smuggled, async (pairs) => {
          tracer.extra = pairs;
          const id = `${client}-${n++}`;
          const parent = tracer.startSpan('parent');
          const status = await runWithSpan(parent, async () => {
            if (client === 'http') return (await httpGet(`${echo.url}/echo`, { headers: { 'x-call-id': id } })).status;
            const response = await fetch(`${echo.url}/echo`, { headers: { 'x-call-id': id } });
            await response.text();
            return response.status;
          });
          parent.finish();
          expect(status).toBe(200);
          const seen = echo.received.get(id);
          expect(seen).toBeDefined();
          // every header the server saw is the client's own, or one the tracer wrote, whole
          for (const [name, value] of Object.entries(seen!)) {
            if (CLIENT_HEADERS.has(name)) continue;
            const written = pairs.filter(([smuggledName]) => smuggledName.toLowerCase() === name);
            const accepted = written.flatMap(([, v]) => [v, v.trim()]);
            expect(accepted, `${name}: ${JSON.stringify(value)}`).toContain(value);
          }
          if (seen!['traceparent'] !== undefined || !pairs.some(([name]) => name === 'traceparent')) {
            expect(seen!['traceparent']).toMatch(TRACEPARENT);
          }
          echo.received.delete(id);
        }),
        { numRuns: RUNS },
      );
      expect(await eventually(() => tracer.store.unfinished().length === 0)).toBe(true);
      expect(echo.received.size).toBe(0);
      expect(watcher.errors).toEqual([]);
    },
  );
});
