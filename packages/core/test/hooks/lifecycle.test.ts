import { describe, expect, it } from 'vitest';
import { RecordingTracer } from '@otinst/recorder';
import { observeSettled, traceCall, traceCallbackCall, tracedCallback } from '../../src/hooks/lifecycle';
import { nextTurn, unhandledRejectionsDuring } from './hook-support';

/**
 * The one traced-call lifecycle (hooks/lifecycle.ts): start is the hook's;
 * a throw records, finishes and rethrows; a promise finishes on settle and
 * the caller's promise behaves as the library's; a callback finishes first.
 */

function setup() {
  const tracer = new RecordingTracer({ serviceName: 'test' });
  const span = tracer.startSpan('call');
  const recorded = () =>
    tracer.spans().map((s) => ({ name: s.operationName, error: s.tags['error'], logs: s.logs.length }));
  return { tracer, span, recorded };
}

describe('traceCall', () => {
  it('a synchronous throw: recorded, finished, the same error rethrown', () => {
    const { span, recorded } = setup();
    const failure = new Error('sync');
    expect(() =>
      traceCall(span, () => {
        throw failure;
      }),
    ).toThrow(failure);
    expect(recorded()).toEqual([{ name: 'call', error: true, logs: 1 }]);
  });

  it('a plain value: returned as it is, finished at once', () => {
    const { span, recorded } = setup();
    const value = { a: 1 };
    expect(traceCall(span, () => value)).toBe(value);
    expect(recorded()).toEqual([{ name: 'call', error: undefined, logs: 0 }]);
  });

  it('a promise: the same value, the span finished before the caller continues, result read', async () => {
    const { span, recorded } = setup();
    const seen: unknown[] = [];
    const value = await traceCall(span, () => Promise.resolve(42), { result: (_s, v) => seen.push(v) });
    expect(value).toBe(42);
    expect(seen).toEqual([42]);
    expect(recorded()).toEqual([{ name: 'call', error: undefined, logs: 0 }]);
  });

  it('a rejection nobody handles still reaches unhandledRejection, once, with the same error', async () => {
    const { span, recorded } = setup();
    const failure = new Error('async');
    const seen = await unhandledRejectionsDuring(async () => {
      void traceCall(span, () => Promise.reject(failure));
      await nextTurn();
    });
    expect(seen).toEqual([failure]);
    expect(recorded()).toEqual([{ name: 'call', error: true, logs: 1 }]);
  });

  it('nativePromisesOnly: a thenable is not followed (its `then` is never called)', () => {
    const { span, recorded } = setup();
    let called = false;
    const lazy = { then: () => (called = true) };
    expect(traceCall(span, () => lazy, { nativePromisesOnly: true })).toBe(lazy);
    expect(called).toBe(false);
    expect(recorded()).toEqual([{ name: 'call', error: undefined, logs: 0 }]);
  });
});

describe('callbacks and side branches', () => {
  it('tracedCallback finishes the span (once) with the error before the callback runs', () => {
    const { span, tracer } = setup();
    const order: string[] = [];
    const callback = tracedCallback(span, (error: unknown) => {
      order.push(`callback ${String(error)} ${tracer.spans().length}`);
    });
    traceCallbackCall(span, () => callback(new Error('x')));
    callback(null);
    expect(order).toEqual(['callback Error: x 1', 'callback null 1']);
    expect(tracer.spans()[0]!.tags['error']).toBe(true);
  });

  it('observeSettled records a rejection without rethrowing on its branch', async () => {
    const { span, recorded } = setup();
    const seen = await unhandledRejectionsDuring(async () => {
      const handled = Promise.reject(new Error('handled by the library'));
      handled.catch(() => {});
      observeSettled(span, handled);
      await nextTurn();
    });
    expect(seen).toEqual([]);
    expect(recorded()).toEqual([{ name: 'call', error: true, logs: 1 }]);
  });
});
