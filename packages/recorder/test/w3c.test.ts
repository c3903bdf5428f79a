import { describe, expect, it } from 'vitest';
import { formatBaggage, formatTraceParent, parseBaggage, parseTraceParent, parseTraceState } from '@otinst/recorder';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('parseTraceParent (W3C Trace Context, section 3.2)', () => {
  it('parses a valid version-00 header', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
  });

  it('the sampled flag is bit 0 of the flags; other bits are ignored', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-03`)?.sampled).toBe(true);
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-02`)?.sampled).toBe(false);
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-ff`)?.sampled).toBe(true);
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-fe`)?.sampled).toBe(false);
  });

  it('surrounding blanks (optional whitespace of a header) are allowed', () => {
    expect(parseTraceParent(`  00-${TRACE}-${SPAN}-01\t`)?.traceId).toBe(TRACE);
  });

  it('version 00 is exactly 55 characters', () => {
    expect(`00-${TRACE}-${SPAN}-01`).toHaveLength(55);
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-01-`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-01-extra`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-1`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-011`)).toBeNull();
  });

  it('a future version may append fields after a dash, and is parsed as version 00', () => {
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-01-what-the-future-will-be-like`)?.traceId).toBe(TRACE);
    expect(parseTraceParent(`01-${TRACE}-${SPAN}-00-x`)?.sampled).toBe(false);
    // ...but the flags must end the string or be followed by a dash
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-01x`)).toBeNull();
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-01.future`)).toBeNull();
  });

  it('version ff is invalid, and so is a non-hex or upper-case version', () => {
    expect(parseTraceParent(`ff-${TRACE}-${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`FF-${TRACE}-${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`0g-${TRACE}-${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`CC-${TRACE}-${SPAN}-01`)).toBeNull();
  });

  it('shorter than 55 characters is invalid, whatever the version', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-0`)).toBeNull();
    expect(parseTraceParent(`cc-${TRACE}-${SPAN.slice(1)}-01`)).toBeNull();
    expect(parseTraceParent('')).toBeNull();
  });

  it('the ids and flags must be lower-case hex', () => {
    expect(parseTraceParent(`00-${TRACE.toUpperCase()}-${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN.toUpperCase().replace('00F', '00F')}-01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-0A`)).toBeNull();
    expect(parseTraceParent(`00-${'z'.repeat(32)}-${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${'x'.repeat(16)}-01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-zz`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE.slice(0, 31)}+-${SPAN}-01`)).toBeNull();
  });

  it('all-zero trace id or span id is invalid', () => {
    expect(parseTraceParent(`00-${'0'.repeat(32)}-${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${'0'.repeat(16)}-01`)).toBeNull();
  });

  it('the dashes must be where the spec puts them', () => {
    expect(parseTraceParent(`00_${TRACE}-${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}_${SPAN}-01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN}_01`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE.slice(1)}-0${SPAN}-01`)).toBeNull();
  });

  it('CR/LF or other control characters make the value invalid', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-01\r\nx-injected: 1`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-\r\n`)).toBeNull();
    expect(parseTraceParent(`00-${TRACE}-${SPAN.slice(0, 15)}\n-01`)).toBeNull();
  });

  it('anything that is not a string is invalid', () => {
    for (const value of [undefined, null, 42, {}, [`00-${TRACE}-${SPAN}-01`]]) {
      expect(parseTraceParent(value)).toBeNull();
    }
  });

  it('formatTraceParent writes version 00 with the sampled flag', () => {
    expect(formatTraceParent(TRACE, SPAN, true)).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(formatTraceParent(TRACE, SPAN, false)).toBe(`00-${TRACE}-${SPAN}-00`);
  });
});

describe('parseTraceState (section 3.3)', () => {
  it('keeps a well-formed list, blanks around members removed, empty members dropped', () => {
    expect(parseTraceState('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(parseTraceState(' rojo=1 ,\t congo=2 ,, ')).toBe('rojo=1,congo=2');
    expect(parseTraceState('tenant@vendor=x,a_b-c*d/e=v')).toBe('tenant@vendor=x,a_b-c*d/e=v');
    expect(parseTraceState('k=value with spaces inside')).toBe('k=value with spaces inside');
  });

  it('drops the whole value when a member is malformed (no partial tracestate)', () => {
    for (const bad of [
      'Rojo=1',
      'rojo',
      'rojo=',
      '=1',
      'rojo=1,congo',
      'rojo=a,b=c=d',
      'rojo=x\r\ny-injected: 1',
      'rojo=\u0000',
      `k=${'v'.repeat(257)}`,
    ]) {
      expect(parseTraceState(bad), bad).toBeUndefined();
    }
  });

  it('at most 32 members and 512 characters', () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(',');
    expect(parseTraceState(members(32))).toBe(members(32));
    expect(parseTraceState(members(33))).toBeUndefined();
    expect(parseTraceState(`k=${'v'.repeat(256)}`)).toBe(`k=${'v'.repeat(256)}`);
    expect(parseTraceState(`k=${'v'.repeat(256)},${'a'.repeat(250)}=${'b'.repeat(10)}`)).toBeUndefined();
  });

  it('empty or not a string: nothing', () => {
    for (const value of ['', ' , ', undefined, 7, ['a=1']]) expect(parseTraceState(value)).toBeUndefined();
  });
});

describe('W3C baggage', () => {
  it('parses key=value lists, percent-decoding values and dropping properties', () => {
    expect(parseBaggage('userId=alice,serverNode=DF%2028,isProduction=false')).toEqual({
      userId: 'alice',
      serverNode: 'DF 28',
      isProduction: 'false',
    });
    expect(
      parseBaggage('key1=value1;property1;property2, key2 = value2 ,key3=value3; propertyKey=propertyValue'),
    ).toEqual({ key1: 'value1', key2: 'value2', key3: 'value3' });
    expect(parseBaggage('k=a%0D%0Ab')).toEqual({ k: 'a\r\nb' });
  });

  it('drops malformed members, keeps the others', () => {
    expect(parseBaggage('good=1,=nokey,noeq,bad key=2,pct=%E0%A4%A,also=ok')).toEqual({ good: '1', also: 'ok' });
  });

  it('drops a member whose raw value holds characters the spec forbids (CR/LF, quotes, backslash, blanks)', () => {
    expect(parseBaggage('k=v\r\nx-injected: 1,other=fine')).toEqual({ other: 'fine' });
    expect(parseBaggage('q="quoted",b=back\\slash,s=in side,ok=1')).toEqual({ ok: '1' });
  });

  it('ignores values that are too long or not strings', () => {
    expect(parseBaggage(`k=${'v'.repeat(9000)}`)).toEqual({});
    expect(parseBaggage(undefined)).toEqual({});
    expect(parseBaggage(['k=v'])).toEqual({});
  });

  it('formatBaggage percent-encodes values and skips keys that are not tokens', () => {
    expect(formatBaggage({ user: 'alice smith', path: '/a,b;c=d', unicode: 'é' })).toBe(
      'user=alice%20smith,path=%2Fa%2Cb%3Bc%3Dd,unicode=%C3%A9',
    );
    expect(formatBaggage({ 'bad key': 'x', 'x\r\ny': 'z', 'a=b': 'c', ok: 'yes' })).toBe('ok=yes');
    expect(formatBaggage({ crlf: 'a\r\nInjected: 1' })).toBe('crlf=a%0D%0AInjected%3A%201');
  });

  it('format and parse round trip', () => {
    const baggage = { user: 'alice smith', path: '/a,b;c=d', unicode: 'é', empty: '' };
    expect(parseBaggage(formatBaggage(baggage))).toEqual(baggage);
  });
});
