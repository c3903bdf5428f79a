/**
 * Misbehaving user hooks and tracers (issue 11): an `async` user hook that
 * rejects (`onStart`, `onFinish`, `operationName`, `ignore`), and a tracer
 * whose methods return rejecting promises (`startSpan`, `extract`, `inject`,
 * `span.finish`, `log`, `setTag`, …). Real requests to every adapter over
 * sockets, with an outgoing `http` and `fetch` call: the app answers as it
 * would untraced, each rejection is logged on the debug logger, and none
 * reaches `unhandledRejection` (which ends a Node process by default).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Span, SpanContext, SpanOptions } from 'opentracing';
import { setDebugLogger, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { ADAPTERS, baseRoutes, buildApp, httpGet, startEchoServer, watchProcessErrors } from './support';
import type { EchoServer, Route } from './support';

class HookRejected extends Error {}

/** Lets pending rejections surface: `unhandledRejection` is emitted once the microtask queue drains. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

const watcher = watchProcessErrors();
const logged: string[] = [];
let echo: EchoServer;

beforeAll(async () => {
  echo = await startEchoServer();
  setDebugLogger((message) => logged.push(message));
});
afterAll(async () => {
  watcher.stop();
  setDebugLogger(undefined);
  uninstallPatches();
  await echo.close();
});
afterEach(() => {
  logged.length = 0;
  // each distinct failure is logged once per logger: a fresh logger for each test
  setDebugLogger((message) => logged.push(message));
});

function callsOut(): Route {
  return {
    method: 'GET',
    path: '/call',
    handler: async () => {
      await httpGet(`${echo.url}/out`);
      await fetch(`${echo.url}/out`);
      return { status: 200, json: { ok: true } };
    },
  };
}

describe.each(ADAPTERS)('%s: async user hooks that reject', (adapter) => {
  it('the request answers, the span keeps its default name, every rejection is logged and none escapes', async () => {
    const tracer = new RecordingTracer();
    const app = await buildApp(adapter, [...baseRoutes(), callsOut()], tracer, {
      onStart: async () => {
        throw new HookRejected('onStart');
      },
      onFinish: async () => {
        throw new HookRejected('onFinish');
      },
      operationName: (async () => {
        throw new HookRejected('operationName');
      }) as never,
      ignore: (async () => {
        throw new HookRejected('ignore');
      }) as never,
    });
    try {
      const reply = await httpGet(`${app.url}/users/7`);
      expect(reply).toEqual({ status: 200, body: '{"id":"7"}' });
      await settle();
      const route = adapter === 'hapi' ? '/users/{id}' : '/users/:id';
      expect(tracer.spans().map((span) => span.operationName)).toEqual([`GET ${route}`]);
      expect(watcher.errors).toEqual([]);
      for (const hook of ['onStart hook', 'onFinish hook', 'operationName hook', 'ignore rule']) {
        expect(logged).toContain(`${hook} failed`);
      }
      expect(logged).toContain('operationName hook returned a promise: it must return a string');
    } finally {
      await app.close();
    }
  });
});

/** A real recording tracer whose chosen method also returns a promise that rejects. */
type Method = 'startSpan' | 'extract' | 'inject' | 'finish' | 'log' | 'setTag' | 'addTags' | 'setOperationName';
const METHODS: readonly Method[] = [
  'startSpan',
  'extract',
  'inject',
  'finish',
  'log',
  'setTag',
  'addTags',
  'setOperationName',
];

class RejectingTracer extends RecordingTracer {
  constructor(readonly method: Method) {
    super({ serviceName: 'rejecting' });
  }

  override startSpan(name: string, options?: SpanOptions): Span {
    if (this.method === 'startSpan') return Promise.reject(new HookRejected('startSpan')) as never;
    const span = super.startSpan(name, options);
    const method = this.method;
    if (method !== 'extract' && method !== 'inject') {
      const own = span as unknown as Record<string, (...args: unknown[]) => unknown>;
      const original = own[method]!.bind(span);
      own[method] = (...args: unknown[]) => {
        original(...args);
        return Promise.reject(new HookRejected(`span.${method}`));
      };
    }
    return span;
  }

  override extract(format: string, carrier: unknown): SpanContext | null {
    if (this.method === 'extract') return Promise.reject(new HookRejected('extract')) as never;
    return super.extract(format, carrier);
  }

  override inject(context: SpanContext | Span, format: string, carrier: unknown): void {
    super.inject(context, format, carrier);
    if (this.method === 'inject') return Promise.reject(new HookRejected('inject')) as never;
  }
}

describe.each(ADAPTERS)('%s: a tracer whose methods return rejecting promises', (adapter) => {
  it.each(METHODS)('%s: the app answers as usual and no rejection escapes', async (method) => {
    const tracer = new RejectingTracer(method);
    const app = await buildApp(adapter, [...baseRoutes(), callsOut()], tracer, { operationName: () => 'renamed' });
    try {
      expect(await httpGet(`${app.url}/call`)).toEqual({ status: 200, body: '{"ok":true}' });
      expect((await httpGet(`${app.url}/fail`)).status).toBe(500);
      await settle();
      expect(watcher.errors).toEqual([]);
      const logName =
        method === 'startSpan' || method === 'extract' || method === 'inject' ? `tracer.${method}` : `span.${method}`;
      expect(logged.some((line) => line.startsWith(logName) && line.endsWith('failed'))).toBe(true);
      // everything but startSpan still records the request and its two client calls
      if (method !== 'startSpan') expect(tracer.spans().length).toBeGreaterThanOrEqual(3);
    } finally {
      await app.close();
    }
  });
});
