import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Span } from 'opentracing';
import {
  bind,
  bindEmitter,
  getCurrentSpan,
  isTracingSuppressed,
  runSuppressed,
  runWithSpan,
  setCurrentSpanFunc,
  setDebugLogger,
} from '@otinst/core';
import { startClientSpan } from '@otinst/core/adapter';
import { RecordingTracer } from '@otinst/recorder';

const tracer = new RecordingTracer({ serviceName: 'context' });
const span = (name: string): Span => tracer.startSpan(name);

afterEach(() => {
  setCurrentSpanFunc(null);
  setDebugLogger(undefined);
});

describe('runWithSpan / getCurrentSpan', () => {
  it('is null outside any context and inside runWithSpan(null)', () => {
    expect(getCurrentSpan()).toBeNull();
    const a = span('a');
    runWithSpan(a, () => {
      expect(getCurrentSpan()).toBe(a);
      runWithSpan(null, () => expect(getCurrentSpan()).toBeNull());
      expect(getCurrentSpan()).toBe(a);
    });
    expect(getCurrentSpan()).toBeNull();
  });

  it('returns what fn returns (also a promise, the same object)', async () => {
    const a = span('a');
    expect(runWithSpan(a, () => 42)).toBe(42);
    const promise = Promise.resolve('x');
    expect(runWithSpan(a, () => promise)).toBe(promise);
    expect(() =>
      runWithSpan(a, () => {
        throw new RangeError('boom');
      }),
    ).toThrow(RangeError);
    expect(getCurrentSpan()).toBeNull();
  });

  it('survives await, setTimeout, setImmediate, process.nextTick and promise chains', async () => {
    const a = span('a');
    const seen: Record<string, Span | null> = {};
    await runWithSpan(a, async () => {
      await sleep(1);
      seen['await'] = getCurrentSpan();
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          seen['setTimeout'] = getCurrentSpan();
          resolve();
        }, 1),
      );
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          seen['setImmediate'] = getCurrentSpan();
          resolve();
        }),
      );
      await new Promise<void>((resolve) =>
        process.nextTick(() => {
          seen['nextTick'] = getCurrentSpan();
          resolve();
        }),
      );
      await Promise.resolve(1)
        .then(() => {
          seen['then'] = getCurrentSpan();
          throw new Error('chain');
        })
        .catch(() => {
          seen['catch'] = getCurrentSpan();
        })
        .finally(() => {
          seen['finally'] = getCurrentSpan();
        });
      queueMicrotask(() => {
        seen['queueMicrotask'] = getCurrentSpan();
      });
      await sleep(0);
    });
    expect(Object.keys(seen)).toEqual([
      'await',
      'setTimeout',
      'setImmediate',
      'nextTick',
      'then',
      'catch',
      'finally',
      'queueMicrotask',
    ]);
    for (const [where, value] of Object.entries(seen)) expect(value, where).toBe(a);
    expect(getCurrentSpan()).toBeNull();
  });

  it('a promise chain started outside keeps the context it was created in for its handlers', async () => {
    const a = span('a');
    let resolveIt!: () => void;
    const gate = new Promise<void>((resolve) => (resolveIt = resolve));
    const observed = runWithSpan(a, () => gate.then(() => getCurrentSpan()));
    // resolved from outside any context: the handler still sees the context that attached it
    resolveIt();
    expect(await observed).toBe(a);
  });

  it('nested runWithSpan restores the outer span, also after an inner throw and across awaits', async () => {
    const outer = span('outer');
    const inner = span('inner');
    await runWithSpan(outer, async () => {
      await runWithSpan(inner, async () => {
        await sleep(1);
        expect(getCurrentSpan()).toBe(inner);
      });
      expect(getCurrentSpan()).toBe(outer);
      expect(() =>
        runWithSpan(inner, () => {
          throw new Error('inner failed');
        }),
      ).toThrow('inner failed');
      expect(getCurrentSpan()).toBe(outer);
      await sleep(1);
      expect(getCurrentSpan()).toBe(outer);
    });
  });

  it('1000 interleaved concurrent flows each see their own span', async () => {
    const flows = Array.from({ length: 1000 }, (_, i) => span(`flow-${i}`));
    const mismatches: string[] = [];
    const check = (i: number, step: string) => {
      if (getCurrentSpan() !== flows[i]) mismatches.push(`${i}:${step}`);
    };
    // a fixed-seed generator: a failure replays the same interleaving
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    await Promise.all(
      flows.map((flowSpan, i) =>
        runWithSpan(flowSpan, async () => {
          for (let step = 0; step < 3; step++) {
            const pick = random();
            if (pick < 0.5) await sleep(Math.floor(random() * 3));
            else if (pick < 0.75) await new Promise((resolve) => setImmediate(resolve));
            else await new Promise((resolve) => process.nextTick(resolve));
            check(i, `step${step}`);
          }
          // a nested flow inside each flow must not leak into the outer one
          const child = span(`child-${i}`);
          await runWithSpan(child, async () => {
            await sleep(Math.floor(random() * 2));
            if (getCurrentSpan() !== child) mismatches.push(`${i}:child`);
          });
          check(i, 'after-child');
        }),
      ),
    );
    expect(mismatches).toEqual([]);
  });
});

describe('bind', () => {
  it('keeps the bind-time span when called from another context', async () => {
    const a = span('a');
    const b = span('b');
    const bound = runWithSpan(a, () => bind((x: number) => [getCurrentSpan(), x] as const));
    expect(bound(1)).toEqual([a, 1]);
    expect(runWithSpan(b, () => bound(2))).toEqual([a, 2]);
    const later = await runWithSpan(b, () => new Promise((resolve) => setTimeout(() => resolve(bound(3)), 1)));
    expect(later).toEqual([a, 3]);
    expect(runWithSpan(b, () => getCurrentSpan())).toBe(b);
  });

  it('keeps `this`, the arguments, the return value and the declared length', () => {
    const a = span('a');
    const target = {
      factor: 3,
      times(this: { factor: number }, x: number, y: number) {
        return [this.factor * x * y, getCurrentSpan()] as const;
      },
    };
    const bound = runWithSpan(a, () => bind(target.times));
    expect(bound.length).toBe(2);
    expect(bound.call(target, 2, 5)).toEqual([30, a]);
  });

  it('keeps every declared length and passes every argument, below and above the arities it has wrappers for', () => {
    const a = span('a');
    const functions = [
      () => [],
      (p: number) => [p],
      (p: number, q: number) => [p, q],
      (p: number, q: number, r: number) => [p, q, r],
      (p: number, q: number, r: number, s: number) => [p, q, r, s],
      (p: number, q: number, r: number, s: number, t: number) => [p, q, r, s, t],
      (p: number, q: number, r: number, s: number, t: number, u: number) => [p, q, r, s, t, u],
    ];
    for (const fn of functions) {
      const bound = runWithSpan(a, () => bind(fn as (...args: number[]) => number[]));
      expect(bound.length).toBe(fn.length);
      const extra = [1, 2, 3, 4, 5, 6, 7];
      expect(bound(...extra)).toEqual(extra.slice(0, fn.length));
      expect((bind((...all: number[]) => all.length) as (...args: number[]) => number)(...extra)).toBe(7);
    }
  });

  it('bound with no active span runs with none, even inside another span', () => {
    const bound = bind(() => getCurrentSpan());
    expect(runWithSpan(span('b'), bound)).toBeNull();
  });
});

describe('EventEmitter listeners', () => {
  it('without bindEmitter, a listener runs in the context of whoever emits', () => {
    const adding = span('adding');
    const emitting = span('emitting');
    const emitter = new EventEmitter();
    const seen: (Span | null)[] = [];
    runWithSpan(adding, () => emitter.on('data', () => seen.push(getCurrentSpan())));
    runWithSpan(emitting, () => emitter.emit('data'));
    emitter.emit('data');
    expect(seen).toEqual([emitting, null]);
  });

  it('with bindEmitter, a listener runs in the context it was added in', async () => {
    const adding = span('adding');
    const other = span('other');
    const emitter = bindEmitter(new EventEmitter());
    const seen: (Span | null)[] = [];
    const listener = (value: number) => seen.push(value === 1 ? getCurrentSpan() : null);
    runWithSpan(adding, () => emitter.on('data', listener));
    runWithSpan(other, () => emitter.emit('data', 1));
    emitter.emit('data', 1);
    await new Promise<void>((resolve) => setTimeout(() => resolve(void emitter.emit('data', 1)), 1));
    expect(seen).toEqual([adding, adding, adding]);
    // the emitter still reports the user's function
    expect(emitter.listeners('data')).toEqual([listener]);
    expect(emitter.listenerCount('data')).toBe(1);
  });

  it('binding the same emitter twice is a no-op and returns it', () => {
    const emitter = new EventEmitter();
    expect(bindEmitter(emitter)).toBe(emitter);
    const on = emitter.on;
    expect(bindEmitter(emitter)).toBe(emitter);
    expect(emitter.on).toBe(on);
  });

  it('removeListener and off work with the original function', () => {
    const emitter = bindEmitter(new EventEmitter());
    let calls = 0;
    const listener = () => calls++;
    runWithSpan(span('a'), () => {
      emitter.on('x', listener);
      emitter.addListener('y', listener);
    });
    emitter.removeListener('x', listener);
    emitter.off('y', listener);
    emitter.emit('x');
    emitter.emit('y');
    expect(calls).toBe(0);
    expect(emitter.listenerCount('x') + emitter.listenerCount('y')).toBe(0);
  });

  it('once runs once, in the adding context, and can be removed with the original function', () => {
    const adding = span('adding');
    const emitter = bindEmitter(new EventEmitter());
    const seen: (Span | null)[] = [];
    const listener = () => seen.push(getCurrentSpan());
    runWithSpan(adding, () => emitter.once('x', listener));
    runWithSpan(span('other'), () => emitter.emit('x'));
    emitter.emit('x');
    expect(seen).toEqual([adding]);
    expect(emitter.listenerCount('x')).toBe(0);

    runWithSpan(adding, () => emitter.once('y', listener));
    expect(emitter.listeners('y')).toEqual([listener]);
    emitter.removeListener('y', listener);
    emitter.emit('y');
    expect(seen).toEqual([adding]);

    runWithSpan(adding, () => emitter.prependOnceListener('z', listener));
    emitter.off('z', listener);
    emitter.emit('z');
    expect(seen).toEqual([adding]);
  });

  it('a listener removed and added again runs in the context of the second add', () => {
    const first = span('first');
    const second = span('second');
    const emitter = bindEmitter(new EventEmitter());
    const seen: (Span | null)[] = [];
    const listener = () => seen.push(getCurrentSpan());
    runWithSpan(first, () => emitter.on('x', listener));
    emitter.removeListener('x', listener);
    runWithSpan(second, () => emitter.on('x', listener));
    emitter.emit('x');
    expect(seen).toEqual([second]);
  });

  it('the same listener added twice from two contexts runs in each, and is removed one at a time', () => {
    const first = span('first');
    const second = span('second');
    const emitter = bindEmitter(new EventEmitter());
    const seen: (Span | null)[] = [];
    const listener = () => seen.push(getCurrentSpan());
    runWithSpan(first, () => emitter.on('x', listener));
    runWithSpan(second, () => emitter.prependListener('x', listener));
    emitter.emit('x');
    expect(seen).toEqual([second, first]);
    emitter.removeListener('x', listener);
    emitter.removeListener('x', listener);
    emitter.emit('x');
    expect(seen).toEqual([second, first]);
    expect(emitter.listenerCount('x')).toBe(0);
  });

  it('binds the listeners of a real stream', async () => {
    const { Readable } = await import('node:stream');
    const adding = span('adding');
    const stream = bindEmitter(Readable.from(['a', 'b']));
    const seen: (Span | null)[] = [];
    await new Promise<void>((resolve) => {
      runWithSpan(adding, () => {
        stream.on('data', () => seen.push(getCurrentSpan()));
        stream.once('end', resolve);
      });
    });
    expect(seen).toEqual([adding, adding]);
  });
});

describe('setCurrentSpanFunc', () => {
  it('overrides the lookup used by getCurrentSpan and by the hooks; null restores it', () => {
    const mine = span('mine');
    const ours = span('ours');
    setCurrentSpanFunc(() => mine);
    expect(getCurrentSpan()).toBe(mine);
    expect(runWithSpan(ours, () => getCurrentSpan())).toBe(mine);
    // the client hooks ask the same lookup for their parent
    const client = runWithSpan(null, () => startClientSpan('GET', {}, true));
    expect(client).not.toBeNull();
    client!.finish();
    const recorded = tracer.spans().find((s) => s.spanId === client!.context().toSpanId())!;
    expect(recorded.parentId).toBe(mine.context().toSpanId());

    setCurrentSpanFunc(null);
    expect(getCurrentSpan()).toBeNull();
    expect(runWithSpan(ours, () => getCurrentSpan())).toBe(ours);
  });

  it('rejects anything but a function or null with a TypeError', () => {
    for (const bad of [undefined, 42, 'span', {}, []]) {
      expect(() => setCurrentSpanFunc(bad as never)).toThrow(TypeError);
    }
    expect(() => setCurrentSpanFunc(42 as never)).toThrow(/@otinst\/core: setCurrentSpanFunc/);
  });

  it('a throwing or undefined-returning lookup counts as no span, logged once', () => {
    const messages: string[] = [];
    setDebugLogger((message) => messages.push(message));
    setCurrentSpanFunc(() => {
      throw new Error('scope manager broke');
    });
    expect(getCurrentSpan()).toBeNull();
    expect(getCurrentSpan()).toBeNull();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/setCurrentSpanFunc/);
    setCurrentSpanFunc(() => undefined as never);
    expect(getCurrentSpan()).toBeNull();
  });
});

describe('runSuppressed / isTracingSuppressed', () => {
  it('switches tracing off for the call and everything it schedules', async () => {
    const a = span('a');
    expect(isTracingSuppressed()).toBe(false);
    await runWithSpan(a, () =>
      runSuppressed(async () => {
        expect(isTracingSuppressed()).toBe(true);
        expect(getCurrentSpan()).toBeNull();
        expect(startClientSpan('GET', {}, false)).toBeNull();
        await sleep(1);
        expect(isTracingSuppressed()).toBe(true);
        await new Promise<void>((resolve) =>
          setImmediate(() => {
            expect(isTracingSuppressed()).toBe(true);
            resolve();
          }),
        );
      }),
    );
    expect(isTracingSuppressed()).toBe(false);
  });

  it('returns what fn returns and ends with the call', () => {
    expect(runSuppressed(() => 'done')).toBe('done');
    expect(isTracingSuppressed()).toBe(false);
    const a = span('a');
    runWithSpan(a, () => {
      runSuppressed(() => undefined);
      expect(getCurrentSpan()).toBe(a);
      expect(isTracingSuppressed()).toBe(false);
    });
  });

  it('a span run explicitly inside a suppressed flow is active again', () => {
    const a = span('a');
    runSuppressed(() =>
      runWithSpan(a, () => {
        expect(isTracingSuppressed()).toBe(false);
        expect(getCurrentSpan()).toBe(a);
      }),
    );
  });
});
