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

let cachedFor: InstrumentationConfig | undefined;
let sensitive: ReadonlySet<string> = new Set(DEFAULT_SENSITIVE_QUERY_PARAMETERS);

/** The default names plus `configure({ sensitiveQueryParameters })`, rebuilt only when the settings change. */
function sensitiveNames(config: InstrumentationConfig): ReadonlySet<string> {
  if (config !== cachedFor) {
    cachedFor = config;
    sensitive = new Set([...DEFAULT_SENSITIVE_QUERY_PARAMETERS, ...config.sensitiveQueryParameters]);
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

function parameterName(pair: string): string {
  const equals = pair.indexOf('=');
  const raw = equals === -1 ? pair : pair.slice(0, equals);
  let name = raw;
  if (raw.includes('%') || raw.includes('+')) {
    try {
      name = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      // a malformed escape: compare the name as sent
    }
  }
  return name.trim().toLowerCase();
}

/** `a=1&password=x` → `a=1&password=REDACTED`; names and order are kept. */
function redactQuery(query: string, names: ReadonlySet<string>): string {
  let changed = false;
  const pairs = query.split('&');
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const equals = pair.indexOf('=');
    if (equals === -1 || equals === pair.length - 1) continue;
    if (names.has(parameterName(pair))) {
      pairs[i] = `${pair.slice(0, equals + 1)}${REDACTED_VALUE}`;
      changed = true;
    }
  }
  return changed ? pairs.join('&') : query;
}

/**
 * The URL as otinst records it: no credentials, sensitive query values
 * replaced by `REDACTED` (or no query at all with `dropQueryString`). No work
 * beyond one `indexOf` for a URL without `?` and without a scheme.
 *
 * @example
 * ```ts
 * sanitiseUrl('HTTP://u:pw@api.local/x?user=7&password=hunter2');
 * // 'http://api.local/x?user=7&password=REDACTED'
 * ```
 */
export function sanitiseUrl(url: string): string {
  if (typeof url !== 'string') return String(url);
  // a path-only URL (the common server case) has no credentials to strip
  if (url.charCodeAt(0) !== 0x2f) url = stripCredentials(url);
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
