/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) parsing and
 * formatting, strict as the spec asks: anything invalid is ignored and a new
 * trace starts.
 */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const HEX_LOWER = /^[0-9a-f]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Parses a `traceparent` header value; `null` for anything the spec says to ignore. */
export function parseTraceParent(value: unknown): TraceParent | null {
  if (typeof value !== 'string') return null;
  const header = value.trim();
  if (header.length < 55) return null;
  const version = header.slice(0, 2);
  if (!HEX_LOWER.test(version) || version === 'ff') return null;
  // version 00 is exactly 55 characters; later versions may append fields after a dash
  if (version === '00' ? header.length !== 55 : header.length > 55 && header[55] !== '-') return null;
  if (header[2] !== '-' || header[35] !== '-' || header[52] !== '-') return null;
  const traceId = header.slice(3, 35);
  const spanId = header.slice(36, 52);
  const flags = header.slice(53, 55);
  if (!HEX_LOWER.test(traceId) || traceId === ZERO_TRACE) return null;
  if (!HEX_LOWER.test(spanId) || spanId === ZERO_SPAN) return null;
  if (!HEX_LOWER.test(flags)) return null;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceParent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

const TRACESTATE_MEMBER =
  /^[a-z0-9][_0-9a-z\-*/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** Keeps a `tracestate` value only when every member is well formed (at most 32 members). */
export function parseTraceState(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  const members = value
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member !== '');
  if (members.length === 0 || members.length > 32) return undefined;
  return members.every((member) => TRACESTATE_MEMBER.test(member)) ? members.join(',') : undefined;
}

const BAGGAGE_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** `baggage-octet`: no blanks, controls, `"`, `,`, `;` or `\` (so no CR/LF either) before percent-decoding. */
const BAGGAGE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;
const OWS = /^[ \t]+|[ \t]+$/g;

/** Parses a W3C `baggage` header into key/value pairs; malformed members are dropped. */
export function parseBaggage(value: unknown): Record<string, string> {
  const baggage: Record<string, string> = {};
  if (typeof value !== 'string' || value.length > 8192) return baggage;
  for (const member of value.split(',')) {
    const pair = member.split(';')[0]!;
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).replace(OWS, '');
    const raw = pair.slice(eq + 1).replace(OWS, '');
    if (!BAGGAGE_KEY.test(key) || !BAGGAGE_VALUE.test(raw)) continue;
    try {
      baggage[key] = decodeURIComponent(raw);
    } catch {
      // a malformed percent-encoding: drop the member
    }
  }
  return baggage;
}

/** Formats baggage as a W3C `baggage` value; a key that is not an HTTP token (it could carry CR/LF) is left out. */
export function formatBaggage(baggage: Record<string, string>): string {
  return Object.entries(baggage)
    .filter(([key]) => BAGGAGE_KEY.test(key))
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join(',');
}
