import { getConfig, type InstrumentationConfig } from './config';

/**
 * The one URL sanitiser: every `http.url` tag (server, `http`, `fetch`) goes
 * through `sanitiseUrl`, whatever `RequestWrapper` or hook produced the URL.
 * Credentials (`user:password@`) are removed, and the values of sensitive
 * query parameters become `REDACTED` (the names stay: they tell what was
 * asked), or the query is dropped entirely (`configure({ dropQueryString })`).
 */

/** What a sensitive query value is replaced with. */
const REDACTED_VALUE = 'REDACTED';

/**
 * Query parameters whose values are never recorded (compared lower-cased).
 * OpenTelemetry's HTTP semantic conventions redact the first four; the rest
 * are the names that carry passwords, tokens and keys in practice (OAuth,
 * S3 presigned URLs, password-reset links).
 */
export const DEFAULT_SENSITIVE_QUERY_PARAMETERS: readonly string[] = Object.freeze([
  'awsaccesskeyid',
  'signature',
  'sig',
  'x-goog-signature',
  'x-goog-credential',
  'x-amz-credential',
  'x-amz-security-token',
  'x-amz-signature',
  'password',
  'passwd',
  'pwd',
  'pass',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'reset_token',
  'auth_token',
  'session_token',
  'api_key',
  'apikey',
  'api-key',
  'key',
  'auth',
  'authorization',
  'credential',
  'credentials',
]);

interface SensitiveNames {
  readonly set: ReadonlySet<string>;
  /** The longest name's length. */
  readonly longest: number;
}

let cachedFor: InstrumentationConfig | undefined;
let sensitive: SensitiveNames = { set: new Set(), longest: 0 };

/** The default names plus `configure({ sensitiveQueryParameters })`, rebuilt only when the settings change. */
function sensitiveNames(config: InstrumentationConfig): SensitiveNames {
  if (config !== cachedFor) {
    cachedFor = config;
    const set = new Set([...DEFAULT_SENSITIVE_QUERY_PARAMETERS, ...config.sensitiveQueryParameters]);
    sensitive = { set, longest: Math.max(...[...set].map((name) => name.length)) };
  }
  return sensitive;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** True for an absolute URL (`http://…`, `HTTP://…`, any scheme, any case). */
export function isAbsoluteUrl(url: string): boolean {
  return SCHEME.test(url);
}

/**
 * Removes `user:password@` from an absolute URL (any scheme case) and writes
 * the scheme in lower case; other strings come back as they are.
 */
export function stripCredentials(url: string): string {
  const match = SCHEME.exec(url);
  if (match === null) return url;
  const authorityStart = match[0].length;
  let authorityEnd = url.length;
  for (const stop of ['/', '?', '#']) {
    const at = url.indexOf(stop, authorityStart);
    if (at !== -1 && at < authorityEnd) authorityEnd = at;
  }
  const scheme = match[0].toLowerCase();
  const at = url.lastIndexOf('@', authorityEnd);
  if (at < authorityStart) return scheme === match[0] ? url : scheme + url.slice(authorityStart);
  return scheme + url.slice(at + 1);
}

/** True when the parameter name `query[from, to)` is in `names` (compared decoded and lower-cased). */
function isSensitiveName(query: string, from: number, to: number, names: SensitiveNames): boolean {
  // a name longer than any listed one, even percent-encoded, needs no look
  if (to - from > names.longest * 3) return false;
  let name = query.slice(from, to);
  if (name.includes('%') || name.includes('+')) {
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // a malformed escape: compare the name as sent
    }
    name = name.trim();
  }
  return names.set.has(name) || names.set.has(name.toLowerCase());
}

/**
 * `a=1&password=x` → `a=1&password=REDACTED`; names, order and other values
 * are kept. Allocates nothing when no value is redacted.
 */
function redactQuery(query: string, names: SensitiveNames): string {
  let out: string | undefined;
  let copied = 0;
  let from = 0;
  while (from < query.length) {
    let end = query.indexOf('&', from);
    if (end === -1) end = query.length;
    const equals = query.indexOf('=', from);
    if (equals !== -1 && equals < end - 1 && isSensitiveName(query, from, equals, names)) {
      out = `${out ?? ''}${query.slice(copied, equals + 1)}${REDACTED_VALUE}`;
      copied = end;
    }
    from = end + 1;
  }
  return out === undefined ? query : out + query.slice(copied);
}

/**
 * The URL as otinst records it: no credentials, sensitive query values
 * replaced by `REDACTED` (or no query at all with `dropQueryString`). A URL
 * without `@`, `?` and `#` costs three scans and no allocation.
 *
 * @example
 * ```ts
 * sanitiseUrl('HTTP://u:pw@api.local/x?user=7&password=hunter2');
 * // 'http://api.local/x?user=7&password=REDACTED'
 * ```
 */
export function sanitiseUrl(url: string): string {
  if (typeof url !== 'string') return String(url);
  // credentials need an `@`; most URLs have none, and then cost one scan here
  if (url.charCodeAt(0) !== 0x2f && url.includes('@')) url = stripCredentials(url);
  const question = url.indexOf('?');
  // a fragment can carry parameters too (OAuth implicit grant: `#access_token=…`)
  const hash = url.indexOf('#', question === -1 ? 0 : question);
  if (question === -1 && hash === -1) return url;
  const config = getConfig();
  if (config.dropQueryString) {
    return url.slice(0, question === -1 ? hash : question);
  }
  const names = sensitiveNames(config);
  let result = url;
  if (hash !== -1) {
    result = `${result.slice(0, hash + 1)}${redactQuery(result.slice(hash + 1), names)}`;
  }
  if (question !== -1) {
    const end = hash === -1 ? result.length : hash;
    result = `${result.slice(0, question + 1)}${redactQuery(result.slice(question + 1, end), names)}${result.slice(end)}`;
  }
  return result;
}
