import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Span as NoopSpan } from 'opentracing';
import type { Span, SpanContext, SpanOptions } from 'opentracing';
import {
  beforeHttpRequest,
  beforeRequest,
  runWithSpan,
  setDebugLogger,
  startChildSpan,
  traceFunction,
} from '@otinst/core';
import { resolveOptions, startServerSpan } from '@otinst/core/adapter';
import type { HttpClientRequest, RequestWrapper } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { safeFinish } from '../src/tracer';

/**
 * API.md failure policy: a tracer that throws from any method (or returns no
 * span) never breaks the traced code; each failure is logged once.
 */

const SPAN_METHODS = ['setTag', 'addTags', 'log', 'finish', 'setOperationName', 'tracer'] as const;
type Failing = 'none' | 'startSpan' | 'startSpan→null' | 'extract' | 'inject' | (typeof SPAN_METHODS)[number];

class FaultyTracer extends RecordingTracer {
  constructor(readonly failing: Failing) {
    super({ serviceName: 'faulty' });
  }

  override startSpan(name: string, options?: SpanOptions): Span {
    if (this.failing === 'startSpan') throw new Error('startSpan broke');
    if (this.failing === 'startSpan→null') return null as unknown as Span;
    const span = super.startSpan(name, options);
    const method = this.failing;
    if ((SPAN_METHODS as readonly string[]).includes(method)) {
      (span as unknown as Record<string, unknown>)[method] = () => {
        throw new Error(`${method} broke`);
      };
    }
    return span;
  }

  override extract(format: string, carrier: unknown): SpanContext | null {
    if (this.failing === 'extract') throw new Error('extract broke');
    return super.extract(format, carrier);
  }

  override inject(context: SpanContext | Span, format: string, carrier: unknown): void {
    if (this.failing === 'inject') throw new Error('inject broke');
    super.inject(context, format, carrier);
  }
}

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const wrapper: RequestWrapper = {
  method: 'GET',
  fullUrl: 'http://svc.local/orders/1',
  headers: { traceparent: VALID, 'x-id': 'abc' },
  remoteIp: '10.0.0.9',
  remotePort: 40000,
  operation: 'GET',
  path: '/orders/1',
};

function outgoing(): HttpClientRequest & { headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  return {
    method: 'GET',
    fullUrl: 'http://users.internal/users/1',
    host: 'users.internal',
    port: 80,
    headers,
    getHeader: (name) => headers[name],
    setHeader: (name, value) => {
      headers[name] = value;
    },
  };
}

/** One request's worth of everything core does, as the adapters and hooks do it. Returns what the app saw. */
async function exercise(tracer: RecordingTracer): Promise<unknown[]> {
  const seen: unknown[] = [];
  const span = beforeRequest(wrapper, tracer);
  seen.push(typeof span.context === 'function');

  const options = resolveOptions('@otinst/express', 'express', {
    tracer,
    clientHooks: false,
    captureRequestHeaders: ['x-id'],
    captureResponseHeaders: ['x-served-by'],
    onStart: () => {},
    onFinish: () => {},
  });
  const handle = startServerSpan(options, wrapper, { native: true });
  const ownSync = new Error('app sync error');
  const ownAsync = new Error('app async error');

  const work = async () => {
    const request = outgoing();
    const client = beforeHttpRequest(request);
    if (client !== null) safeFinish(client);
    seen.push('client call made');

    seen.push(traceFunction((x: number) => x * 2, { name: 'double' })(21));
    seen.push(
      await traceFunction(async () => {
        await sleep(0);
        return 'async result';
      })(),
    );
    try {
      traceFunction(() => {
        throw ownSync;
      })();
    } catch (error) {
      seen.push(error === ownSync);
    }
    await traceFunction(async () => {
      throw ownAsync;
    })().catch((error: unknown) => seen.push(error === ownAsync));

    const child = startChildSpan('child', { tags: { a: 1 } });
    seen.push(typeof child.finish === 'function');
  };
  if (handle === null) await work();
  else await runWithSpan(handle.span, work);

  handle?.setRoute('/orders/:id');
  handle?.recordError(new Error('handler failed'));
  handle?.finish(500, { 'x-served-by': 'n1' }, (res, name) => (res as Record<string, string>)[name]);
  handle?.finish(500, {});
  await sleep(0);
  return seen;
}

const EXPECTED = [true, 'client call made', 42, 'async result', true, true, true];

afterEach(() => setDebugLogger(undefined));

describe('a tracer that fails', () => {
  it('baseline: a healthy tracer records everything and logs nothing', async () => {
    const messages: string[] = [];
    setDebugLogger((message) => messages.push(message));
    const tracer = new FaultyTracer('none');
    expect(await exercise(tracer)).toEqual(EXPECTED);
    expect(messages).toEqual([]);
    expect(tracer.spans().map((span) => span.operationName)).toEqual([
      'GET',
      'double',
      'anonymous',
      'anonymous',
      'anonymous',
      'GET /orders/:id',
    ]);
    // beforeRequest's span and the child span are the caller's to finish
    expect(tracer.store.unfinished().map((span) => span.operationName)).toEqual(['GET', 'child']);
  });

  const expectedMessage: Record<Exclude<Failing, 'none'>, RegExp> = {
    startSpan: /^tracer\.startSpan\(.+\) failed$/,
    'startSpan→null': /^tracer\.startSpan\(.+\) returned no span$/,
    extract: /^tracer\.extract\(http_headers\) failed$/,
    inject: /^tracer\.inject\(http_headers\) failed$/,
    setTag: /^span\.setTag\(.+\) failed$/,
    addTags: /^span\.addTags failed$/,
    log: /^span\.log failed$/,
    finish: /^span\.finish failed$/,
    setOperationName: /^span\.setOperationName failed$/,
    tracer: /^span\.tracer\(\) failed$/,
  };

  for (const failing of Object.keys(expectedMessage) as Exclude<Failing, 'none'>[]) {
    it(`throwing from ${failing}: the app sees the same results, each failure is logged once`, async () => {
      const logged: [string, unknown][] = [];
      setDebugLogger((message, error) => logged.push([message, error]));
      const tracer = new FaultyTracer(failing);
      expect(await exercise(tracer)).toEqual(EXPECTED);
      const first = logged.map(([message]) => message);
      expect(first.length).toBeGreaterThan(0);
      expect(first.some((message) => expectedMessage[failing].test(message))).toBe(true);
      // every line is about this failure, and carries the tracer's error
      for (const [message, error] of logged) {
        expect(message).toMatch(expectedMessage[failing]);
        if (failing !== 'startSpan→null') expect((error as Error).message).toBe(`${failing} broke`);
      }
      expect(new Set(first).size).toBe(first.length);
      // a second request logs nothing new
      expect(await exercise(tracer)).toEqual(EXPECTED);
      expect(logged).toHaveLength(first.length);
    });
  }

  it('beforeRequest gives a no-op span when startSpan fails, and startChildSpan too', () => {
    setDebugLogger(null);
    expect(beforeRequest(wrapper, new FaultyTracer('startSpan'))).toBeInstanceOf(NoopSpan);
    expect(beforeRequest(wrapper, new FaultyTracer('startSpan→null'))).toBeInstanceOf(NoopSpan);
    expect(startChildSpan('x', { tracer: new FaultyTracer('startSpan') })).toBeInstanceOf(NoopSpan);
    expect(
      startServerSpan(resolveOptions('@otinst/koa', 'koa', { tracer: new FaultyTracer('startSpan') }), wrapper, {}),
    ).toBeNull();
  });

  it('beforeRequest with a RequestWrapper whose getters throw gives a no-op span, logged once', () => {
    const messages: string[] = [];
    setDebugLogger((message) => messages.push(message));
    const tracer = new RecordingTracer();
    const broken = Object.defineProperty({ ...wrapper }, 'fullUrl', {
      get() {
        throw new Error('fullUrl getter');
      },
    });
    expect(beforeRequest(broken, tracer)).toBeInstanceOf(NoopSpan);
    expect(beforeRequest(broken, tracer)).toBeInstanceOf(NoopSpan);
    expect(messages).toEqual(['starting the server span failed']);
    expect(tracer.store.unfinished()).toEqual([]);
  });

  it('a debug logger that throws is not the app’s problem either', async () => {
    setDebugLogger(() => {
      throw new Error('logger broke');
    });
    expect(await exercise(new FaultyTracer('finish'))).toEqual(EXPECTED);
  });
});
