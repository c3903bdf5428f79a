import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Span as NoopSpan } from 'opentracing';
import type { Span } from 'opentracing';
import {
  getCurrentSpan,
  runSuppressed,
  runWithSpan,
  setDebugLogger,
  startChildSpan,
  traceFunction,
} from '@otinst/core';
import { safeFinish } from '../src/tracer';
import { RecordingTracer } from '@otinst/recorder';
import type { RecordingSpanContext } from '@otinst/recorder';
import { allTracers } from '../../../test/support/tracers';

const tracer = new RecordingTracer({ serviceName: 'local' });
const other = new RecordingTracer({ serviceName: 'other' });
const messages: string[] = [];

afterEach(() => {
  tracer.reset();
  other.reset();
  messages.length = 0;
  setDebugLogger(undefined);
});

const idOf = (span: Span) => (span.context() as RecordingSpanContext).spanId;
const byName = (name: string) => tracer.spans().find((span) => span.operationName === name)!;

describe('startChildSpan', () => {
  it('is a child of the current span, started by the parent’s tracer', () => {
    const parent = tracer.startSpan('parent');
    const child = runWithSpan(parent, () => startChildSpan('child', { tags: { 'job.id': 7, queue: 'mail' } }));
    child.finish();
    parent.finish();
    const recorded = byName('child');
    expect(recorded.parentId).toBe(idOf(parent));
    expect(recorded.traceId).toBe(byName('parent').traceId);
    expect(recorded.tags).toEqual({ 'job.id': 7, queue: 'mail' });
  });

  it('an explicit parent wins over the current span; parent null starts a new trace', () => {
    const current = tracer.startSpan('current');
    const explicit = tracer.startSpan('explicit');
    runWithSpan(current, () => {
      startChildSpan('under-explicit', { parent: explicit }).finish();
      startChildSpan('root', { parent: null, tracer }).finish();
    });
    expect(byName('under-explicit').parentId).toBe(idOf(explicit));
    expect(byName('root').parentId).toBeUndefined();
    expect(byName('root').traceId).not.toBe((current.context() as RecordingSpanContext).traceId);
  });

  it('an explicit tracer starts the span, still under the current parent when it understands it', () => {
    const parent = tracer.startSpan('parent');
    runWithSpan(parent, () => startChildSpan('on-other', { tracer: other }).finish());
    const [span] = other.spans();
    expect(span!.service).toBe('other');
    expect(span!.parentId).toBe(idOf(parent));
    expect(tracer.spans()).toEqual([]);
  });

  for (const t of allTracers()) {
    it(`after an await, a child of the current span under ${t.name}`, async () => {
      const parent = t.tracer.startSpan('parent');
      await runWithSpan(parent, async () => {
        await sleep(1);
        expect(getCurrentSpan()).toBe(parent);
        startChildSpan('child', { tags: { step: 1 } }).finish();
      });
      parent.finish();
      const spans = t.spans();
      const child = spans.find((s) => s.operationName === 'child')!;
      const p = spans.find((s) => s.operationName === 'parent')!;
      expect(child.parentId).toBe(p.spanId);
      expect(child.traceId).toBe(p.traceId);
      expect(child.tags['step']).toBe(1);
    });
  }

  it("with no parent and no tracer: opentracing's global (no-op) tracer", () => {
    expect(startChildSpan('nothing')).toBeInstanceOf(NoopSpan);
  });

  it('needs an operation name', () => {
    expect(() => startChildSpan('')).toThrow(TypeError);
    expect(() => startChildSpan(undefined as never)).toThrow(/@otinst\/core: startChildSpan/);
  });
});

describe('traceFunction', () => {
  it('names the span after the function, or the name option; the wrapper carries that name', () => {
    function loadUser() {
      return 'user';
    }
    const parent = tracer.startSpan('parent');
    runWithSpan(parent, () => {
      const byFunctionName = traceFunction(loadUser);
      const byOption = traceFunction(loadUser, { name: 'users.load' });
      const anonymous = traceFunction((() => 1) as () => number);
      expect(byFunctionName.name).toBe('loadUser');
      expect(byOption.name).toBe('users.load');
      expect(byFunctionName()).toBe('user');
      expect(byOption()).toBe('user');
      anonymous();
    });
    expect(tracer.spans().map((span) => [span.operationName, span.parentId])).toEqual([
      ['loadUser', idOf(parent)],
      ['users.load', idOf(parent)],
      // an arrow function assigned nowhere has no name
      ['anonymous', idOf(parent)],
    ]);
  });

  it('keeps `this` and the arguments, and runs the function with its span active', () => {
    const parent = tracer.startSpan('parent');
    const target = {
      factor: 10,
      scale: traceFunction(
        function scale(this: { factor: number }, a: number, b: number) {
          return { value: this.factor * (a + b), active: getCurrentSpan() };
        },
        { tracer },
      ),
    };
    const result = runWithSpan(parent, () => target.scale(1, 2));
    expect(result.value).toBe(30);
    expect(idOf(result.active!)).toBe(byName('scale').spanId);
  });

  it('onStart receives the span and the arguments before the function runs; a throwing onStart is harmless', () => {
    setDebugLogger((message) => messages.push(message));
    const parent = tracer.startSpan('parent');
    const order: string[] = [];
    const fn = traceFunction(
      (id: string, n: number) => {
        order.push('fn');
        return id.repeat(n);
      },
      {
        name: 'repeat',
        onStart: (span, id, n) => {
          order.push('onStart');
          span.setTag('arg.id', id);
          span.setTag('arg.n', n);
        },
      },
    );
    const failing = traceFunction(() => 'still works', {
      name: 'failing-onStart',
      onStart: () => {
        throw new Error('onStart broke');
      },
    });
    runWithSpan(parent, () => {
      expect(fn('ab', 2)).toBe('abab');
      expect(failing()).toBe('still works');
      expect(failing()).toBe('still works');
    });
    expect(order).toEqual(['onStart', 'fn']);
    expect(byName('repeat').tags).toEqual({ 'arg.id': 'ab', 'arg.n': 2 });
    expect(messages).toEqual(['traceFunction onStart failed']);
  });

  it('requireActiveTrace: with no current span the function is called plainly, with no span', () => {
    let calls = 0;
    const fn = traceFunction(
      function counted(this: unknown, x: number) {
        calls++;
        return [this, x, getCurrentSpan()];
      },
      { requireActiveTrace: true, tracer },
    );
    const self = { me: true };
    expect(fn.call(self, 5)).toEqual([self, 5, null]);
    expect(calls).toBe(1);
    expect(tracer.spans()).toEqual([]);
    expect(tracer.store.unfinished()).toEqual([]);
    const parent = tracer.startSpan('parent');
    runWithSpan(parent, () => fn(6));
    expect(byName('counted').parentId).toBe(idOf(parent));
  });

  it('without requireActiveTrace and no current span: a root span from the tracer option', () => {
    traceFunction(() => 1, { name: 'root-work', tracer })();
    expect(byName('root-work').parentId).toBeUndefined();
  });

  it('nests: three traced functions calling each other give three spans in one chain', async () => {
    const inner = traceFunction(async function inner() {
      await sleep(1);
      return 'inner';
    });
    const middle = traceFunction(function middle() {
      return inner();
    });
    const outer = traceFunction(
      async function outer() {
        return `${await middle()}!`;
      },
      { tracer },
    );
    expect(await outer()).toBe('inner!');
    const [o, m, i] = ['outer', 'middle', 'inner'].map(byName);
    expect(tracer.spans()).toHaveLength(3);
    expect(o!.parentId).toBeUndefined();
    expect(m!.parentId).toBe(o!.spanId);
    expect(i!.parentId).toBe(m!.spanId);
    expect(new Set([o!.traceId, m!.traceId, i!.traceId]).size).toBe(1);
    for (const span of [o, m, i]) expect(span!.finishCount).toBe(1);
    // the spans finished when their promises settled (middle returns inner's promise), not when the calls returned
    expect(tracer.spans().map((span) => span.operationName)).toEqual(['inner', 'middle', 'outer']);
  });

  it('a sync throw: error=true, one error log, and the same error rethrown', () => {
    const error = new RangeError('out of range');
    const fn = traceFunction(
      () => {
        throw error;
      },
      { name: 'throws', tracer },
    );
    let caught: unknown;
    try {
      fn();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(error);
    const span = byName('throws');
    expect(span.tags['error']).toBe(true);
    expect(span.logs.map((log) => log.fields)).toEqual([
      {
        event: 'error',
        'error.kind': 'RangeError',
        'error.object': error,
        message: 'out of range',
        stack: error.stack,
      },
    ]);
    expect(span.finishCount).toBe(1);
  });

  it('an async rejection: the returned promise rejects with the same error, span marked', async () => {
    const error = new Error('rejected');
    let returned: Promise<never> | undefined;
    const fn = traceFunction(
      () => {
        returned = sleep(1).then(() => Promise.reject(error));
        return returned;
      },
      { name: 'rejects', tracer },
    );
    const promise = fn();
    expect(promise).toBeInstanceOf(Promise);
    expect(returned).toBeDefined();
    await expect(promise).rejects.toBe(error);
    await sleep(0);
    const span = byName('rejects');
    expect(span.tags['error']).toBe(true);
    expect(span.logs).toHaveLength(1);
    expect(span.logs[0]!.fields['error.object']).toBe(error);
    expect(span.finishCount).toBe(1);
  });

  it('a rejection nobody handles still reaches unhandledRejection, with the same error', async () => {
    const error = new Error('nobody awaits me');
    const seen: unknown[] = [];
    const listener = (reason: unknown) => seen.push(reason);
    process.on('unhandledRejection', listener);
    try {
      void traceFunction(() => sleep(1).then(() => Promise.reject(error)), { name: 'unhandled', tracer })();
      await sleep(20);
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(seen).toEqual([error]);
    expect(byName('unhandled').tags['error']).toBe(true);
  });

  it('a resolved promise resolves to the same value and finishes the span, before the caller resumes', async () => {
    const original = Promise.resolve(42);
    const fn = traceFunction(() => original, { name: 'resolves', tracer });
    const promise = fn();
    expect(await promise).toBe(42);
    const span = byName('resolves');
    expect(span.tags).toEqual({});
    expect(span.logs).toEqual([]);
  });

  it('a lazy thenable (a query builder) is not executed by the wrapper: only the caller runs it', async () => {
    let executions = 0;
    const builder = {
      then(resolve: (value: string) => void) {
        executions++;
        resolve('rows');
      },
    };
    const fn = traceFunction(() => builder, { name: 'query', tracer });
    const result = fn();
    expect(result).toBe(builder);
    expect(executions).toBe(0);
    expect(await result).toBe('rows');
    expect(executions).toBe(1);
    expect(byName('query').finishCount).toBe(1);
  });

  it('rejects a non-function', () => {
    expect(() => traceFunction('fn' as never)).toThrow(TypeError);
  });
});

// issue 11: a timer started lazily inside a request kept hanging children on that request forever
describe('never a child of a finished span (API.md)', () => {
  it('traceFunction under a finished current span starts a new trace, or nothing with requireActiveTrace', () => {
    const request = tracer.startSpan('request');
    const tick = traceFunction(() => 'tick', { name: 'tick', tracer });
    const strict = traceFunction(() => 'strict', { name: 'strict', tracer, requireActiveTrace: true });
    runWithSpan(request, () => {
      tick();
      strict();
    });
    safeFinish(request);
    // what a setInterval started in the request runs after the response: the request's context, finished
    runWithSpan(request, () => {
      expect(tick()).toBe('tick');
      expect(strict()).toBe('strict');
    });
    const children = tracer.spans().filter((span) => span.parentId === idOf(request));
    expect(children.map((span) => span.operationName)).toEqual(['tick', 'strict']);
    const later = tracer.spans().filter((span) => span.operationName === 'tick' && span.parentId === undefined);
    expect(later).toHaveLength(1);
    expect(tracer.spans().filter((span) => span.operationName === 'strict')).toHaveLength(1);
  });

  it('startChildSpan under a finished parent (current or given) starts a new trace', () => {
    const request = tracer.startSpan('request');
    safeFinish(request);
    runWithSpan(request, () => startChildSpan('from-context', { tracer }).finish());
    startChildSpan('given', { tracer, parent: request }).finish();
    expect(byName('from-context').parentId).toBeUndefined();
    expect(byName('given').parentId).toBeUndefined();
    expect(byName('given').traceId).not.toBe(byName('request').traceId);
  });

  it('a span that takes no new property (frozen, or a proxy whose traps throw) is still known as finished', () => {
    const frozen = Object.freeze(tracer.startSpan('frozen'));
    const hostile = new Proxy(tracer.startSpan('proxied'), {
      set: () => {
        throw new Error('read-only span');
      },
      get: (target, key, receiver) => {
        if (typeof key === 'symbol') throw new Error('no symbols here');
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    safeFinish(frozen);
    safeFinish(hostile);
    startChildSpan('under-frozen', { tracer, parent: frozen }).finish();
    runWithSpan(hostile, () => startChildSpan('under-proxy', { tracer }).finish());
    expect(tracer.spans().map((span) => span.operationName)).toEqual([
      'frozen',
      'proxied',
      'under-frozen',
      'under-proxy',
    ]);
    expect(byName('under-frozen').parentId).toBeUndefined();
    expect(byName('under-proxy').parentId).toBeUndefined();
  });

  it('where tracing is suppressed (an ignored request), no local span at all', () => {
    const fn = traceFunction(() => 'ran', { name: 'suppressed-fn', tracer });
    let child: Span | undefined;
    runSuppressed(() => {
      expect(fn()).toBe('ran');
      child = startChildSpan('suppressed-child', { tracer });
      child.finish();
    });
    expect(child).toBeInstanceOf(NoopSpan);
    expect(tracer.spans()).toEqual([]);
  });
});
