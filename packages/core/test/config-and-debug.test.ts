import { afterEach, describe, expect, it, vi } from 'vitest';
import { configure, getConfig, resetConfig, setDebugLogger } from '@otinst/core';
import { debug, safeExecute } from '@otinst/core/adapter';

const ENV = 'OTINST_DEBUG';
const savedEnv = process.env[ENV];

afterEach(() => {
  resetConfig();
  if (savedEnv === undefined) delete process.env[ENV];
  else process.env[ENV] = savedEnv;
  setDebugLogger(undefined);
  vi.restoreAllMocks();
});

describe('configure()', () => {
  it('starts empty, lower-cases names, keeps unset fields, and resetConfig restores the defaults', () => {
    const defaults = {
      tracer: undefined,
      requireParentSpan: true,
      captureParameters: false,
      captureSqlLiterals: false,
      callerNameHeaders: [],
      calleeNameHeaders: [],
      calleeEndpointHeaders: [],
      sensitiveQueryParameters: [],
      dropQueryString: false,
    };
    expect(getConfig()).toEqual(defaults);
    configure({ callerNameHeaders: ['X-Caller', 'X-Service-Name'] });
    configure({ calleeNameHeaders: ['X-Target'] });
    expect(getConfig()).toEqual({
      ...defaults,
      callerNameHeaders: ['x-caller', 'x-service-name'],
      calleeNameHeaders: ['x-target'],
    });
    // one validator for configure() and the adapters' header options: an array, never a bare string
    expect(() => configure({ calleeEndpointHeaders: 'X-Endpoint' as never })).toThrow(
      '@otinst/core: configure(): calleeEndpointHeaders must be an array of header names',
    );
    configure({ calleeEndpointHeaders: ['X-Endpoint', 'x-endpoint'] });
    expect(getConfig().calleeEndpointHeaders).toEqual(['x-endpoint']);
    configure({});
    expect(getConfig().callerNameHeaders).toEqual(['x-caller', 'x-service-name']);
    configure({ captureSqlLiterals: true, requireParentSpan: false });
    expect(getConfig()).toMatchObject({ captureSqlLiterals: true, requireParentSpan: false, captureParameters: false });
    expect(() => configure({ captureSqlLiterals: 'yes' as never })).toThrow(
      '@otinst/core: configure(): captureSqlLiterals must be true or false',
    );
    expect(() => configure({ tracer: {} as never })).toThrow(
      '@otinst/core: configure(): tracer must be an OpenTracing Tracer',
    );
    resetConfig();
    expect(getConfig()).toEqual(defaults);
  });

  it('the settings are frozen: changing them goes through configure()', () => {
    configure({ callerNameHeaders: ['x-a'] });
    const config = getConfig();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.callerNameHeaders)).toBe(true);
    const input = ['x-b'];
    configure({ calleeNameHeaders: input });
    input.push('x-c');
    expect(getConfig().calleeNameHeaders).toEqual(['x-b']);
  });

  it('rejects bad settings with a TypeError naming the field, and changes nothing', () => {
    configure({ callerNameHeaders: ['x-kept'] });
    const bad: [unknown, RegExp][] = [
      [null, /@otinst\/core: configure\(\) expects an object/],
      ['x-caller', /configure\(\) expects an object/],
      [{ callerNameHeaders: 5 }, /@otinst\/core: configure\(\): callerNameHeaders must be an array of header names/],
      [{ calleeNameHeaders: [''] }, /calleeNameHeaders must be an array/],
      [{ calleeEndpointHeaders: [42] }, /calleeEndpointHeaders must be an array/],
      [{ callerNameHeaders: ['x-new'], calleeNameHeaders: {} }, /calleeNameHeaders/],
    ];
    for (const [settings, message] of bad) {
      expect(() => configure(settings as never)).toThrow(TypeError);
      expect(() => configure(settings as never)).toThrow(message);
    }
    expect(getConfig().callerNameHeaders).toEqual(['x-kept']);
  });
});

describe('safeExecute', () => {
  it('returns what fn returns', () => {
    expect(safeExecute('ok', () => 7, 0)).toBe(7);
    expect(safeExecute('ok', () => 'v')).toBe('v');
  });

  it('a throw gives the fallback (or undefined) and one debug line per distinct failure', () => {
    const logged: [string, unknown][] = [];
    setDebugLogger((message, error) => logged.push([message, error]));
    const error = new Error('hook broke');
    const fail = () => {
      throw error;
    };
    expect(safeExecute('user hook', fail, 'fallback')).toBe('fallback');
    expect(safeExecute('user hook', fail)).toBeUndefined();
    expect(safeExecute('user hook', fail, null)).toBeNull();
    expect(logged).toEqual([['user hook failed', error]]);
    // another error message from the same place is a distinct failure
    safeExecute('user hook', () => {
      throw new Error('another');
    });
    safeExecute('other hook', fail);
    expect(logged.map(([message]) => message)).toEqual(['user hook failed', 'user hook failed', 'other hook failed']);
  });

  it('a thrown non-Error is caught too', () => {
    expect(
      safeExecute(
        'throws a string',
        () => {
          throw 'nope';
        },
        1,
      ),
    ).toBe(1);
  });
});

describe('the debug logger', () => {
  it('setDebugLogger(null) silences it; setting a logger again starts a fresh once-only memory', () => {
    const logged: string[] = [];
    setDebugLogger(null);
    debug('silenced');
    setDebugLogger((message) => logged.push(message));
    debug('first');
    debug('first');
    debug('first', new Error('with an error'));
    setDebugLogger((message) => logged.push(`again: ${message}`));
    debug('first');
    expect(logged).toEqual(['first', 'first', 'again: first']);
  });

  it('a logger that throws is swallowed', () => {
    setDebugLogger(() => {
      throw new Error('logger broke');
    });
    expect(() => debug('x')).not.toThrow();
    expect(() =>
      safeExecute('y', () => {
        throw new Error('y');
      }),
    ).not.toThrow();
  });

  it('after many distinct messages it keeps logging (the memory is bounded, not the output)', () => {
    let count = 0;
    setDebugLogger(() => count++);
    for (let i = 0; i < 1500; i++) debug(`message ${i}`);
    expect(count).toBe(1500);
  });

  // issue 15: past 1,000 keys nothing new was remembered, so every new message then logged on every call
  it('past 1,000 distinct messages a repeated message is still logged once, not on every call', () => {
    const lines: string[] = [];
    setDebugLogger((message) => lines.push(message));
    for (let i = 0; i < 1500; i++) debug(`message ${i}`);
    for (let i = 0; i < 10; i++) debug('late failure');
    expect(lines.filter((line) => line === 'late failure')).toHaveLength(1);
    // a message that keeps recurring stays remembered while a thousand others come and go
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 600; i++) debug(`round ${round} message ${i}`);
      debug('late failure');
    }
    expect(lines.filter((line) => line === 'late failure')).toHaveLength(1);
  });

  it('OTINST_DEBUG=1 switches the default logger on (stderr, [otinst] prefix); 0, false and empty do not', () => {
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    process.env[ENV] = '1';
    setDebugLogger(undefined);
    const error = new Error('cause');
    debug('visible', error);
    debug('plain');
    expect(stderr.mock.calls).toEqual([['[otinst] visible:', error], ['[otinst] plain']]);
    for (const off of ['0', 'false', '']) {
      stderr.mockClear();
      process.env[ENV] = off;
      setDebugLogger(undefined);
      debug(`hidden with ${off}`);
      expect(stderr).not.toHaveBeenCalled();
    }
    delete process.env[ENV];
    setDebugLogger(undefined);
    debug('hidden when unset');
    expect(stderr).not.toHaveBeenCalled();
  });

  it('OTINST_DEBUG is read when core is loaded', async () => {
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    process.env[ENV] = 'true';
    vi.resetModules();
    const fresh = await import('@otinst/core/adapter');
    fresh.safeExecute('loaded with the switch on', () => {
      throw new Error('boom');
    });
    expect(stderr).toHaveBeenCalledTimes(1);
    expect(stderr.mock.calls[0]![0]).toBe('[otinst] loaded with the switch on failed:');
    stderr.mockClear();
    delete process.env[ENV];
    vi.resetModules();
    const silent = await import('@otinst/core/adapter');
    silent.debug('nobody hears this');
    expect(stderr).not.toHaveBeenCalled();
  });
});

// issue 11: an async user hook that rejected became an unhandled rejection (the process exits)
describe('safeExecute with a function that returns a promise', () => {
  afterEach(() => setDebugLogger(undefined));

  it('a rejection is logged like a throw and handled; the promise itself is returned unchanged', async () => {
    const lines: string[] = [];
    setDebugLogger((message) => lines.push(message));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const rejected = Promise.reject(new Error('async hook broke'));
      expect(safeExecute('async hook', () => rejected)).toBe(rejected);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(lines).toEqual(['async hook failed']);
    expect(unhandled).toEqual([]);
  });
});
