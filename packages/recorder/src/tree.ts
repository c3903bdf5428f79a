import type { RecordedSpan } from './tracer';

export interface FormatTraceOptions {
  /** Tags shown after each span. @default ['http.status_code', 'db.statement', 'message_bus.destination'] */
  tags?: readonly string[];
  /** Width of the duration bar in characters; 0 hides it. @default 24 */
  barWidth?: number;
  /** ANSI colours (red errors, dim details). @default false */
  color?: boolean;
  /**
   * After the name of a client HTTP span, where the request went (`GET → users.internal:8080`), from
   * `peer.hostname`/`peer.ipv4`/`peer.ipv6` and `peer.port`, else the host of `http.url`. The
   * operation name itself stays the low-cardinality `GET`. @default true
   */
  target?: boolean;
}

const DEFAULT_TAGS = ['http.status_code', 'db.statement', 'message_bus.destination'];

function shorten(value: unknown, max = 60): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `host:port` of a client HTTP span's target, or undefined for any other span. */
function targetOf(tags: Readonly<Record<string, unknown>>): string | undefined {
  if (tags['span.kind'] !== 'client' || (tags['http.url'] === undefined && tags['http.method'] === undefined))
    return undefined;
  const ipv6 = tags['peer.ipv6'];
  const host = tags['peer.hostname'] ?? tags['peer.ipv4'] ?? (ipv6 === undefined ? undefined : `[${String(ipv6)}]`);
  if (host !== undefined)
    return tags['peer.port'] === undefined ? String(host) : `${String(host)}:${String(tags['peer.port'])}`;
  if (typeof tags['http.url'] !== 'string') return undefined;
  try {
    return new URL(tags['http.url']).host || undefined;
  } catch {
    return undefined;
  }
}

function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

/**
 * Prints the spans of one trace as an indented tree: operation name, service,
 * duration, a bar placing the span in the trace's time line, an error mark and
 * a few key tags. Spans whose parent is not among `spans` are printed as roots.
 *
 * @example
 * ```ts
 * import { RecordingTracer, formatTrace } from '@otinst/recorder';
 * const tracer = new RecordingTracer();
 * // ... traced work ...
 * for (const traceId of tracer.store.traceIds()) console.log(formatTrace(tracer.store.trace(traceId)));
 * ```
 */
export function formatTrace(spans: readonly RecordedSpan[], options: FormatTraceOptions = {}): string {
  if (spans.length === 0) return '(no spans)';
  const showTags = options.tags ?? DEFAULT_TAGS;
  const barWidth = options.barWidth ?? 24;
  const showTarget = options.target ?? true;
  const paint = (code: string, text: string) => (options.color === true ? `\u001b[${code}m${text}\u001b[0m` : text);
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string | undefined, RecordedSpan[]>();
  for (const span of spans) {
    // a span that names itself as parent (foreign data) would recurse forever: print it as a root
    const parent =
      span.parentId !== undefined && span.parentId !== span.spanId && ids.has(span.parentId)
        ? span.parentId
        : undefined;
    const list = children.get(parent) ?? [];
    list.push(span);
    children.set(parent, list);
  }
  for (const list of children.values()) list.sort((a, b) => a.startTime - b.startTime);
  const start = Math.min(...spans.map((span) => span.startTime));
  const end = Math.max(...spans.map((span) => span.finishTime));
  const total = Math.max(end - start, 1e-3);
  const lines: string[] = [`trace ${spans[0]!.traceId}  ${formatDuration(end - start)}`];

  const bar = (span: RecordedSpan): string => {
    if (barWidth <= 0) return '';
    const from = Math.min(barWidth - 1, Math.floor(((span.startTime - start) / total) * barWidth));
    const length = Math.max(1, Math.round((span.durationMs / total) * barWidth));
    const to = Math.min(barWidth, from + length);
    return `|${' '.repeat(from)}${'█'.repeat(to - from)}${' '.repeat(barWidth - to)}| `;
  };

  const walk = (span: RecordedSpan, prefix: string, last: boolean, root: boolean): void => {
    const branch = root ? '' : last ? '└─ ' : '├─ ';
    const error = span.tags['error'] === true || span.tags['error'] === 'true';
    const details = showTags
      .filter((tag) => span.tags[tag] !== undefined)
      .map((tag) => `${tag}=${shorten(span.tags[tag])}`)
      .join(' ');
    const target = showTarget ? targetOf(span.tags) : undefined;
    const label = target === undefined ? span.operationName : `${span.operationName} → ${target}`;
    const name = error ? paint('31', `${label} ✖ error`) : label;
    lines.push(
      `${bar(span)}${prefix}${branch}${name}  ${paint('2', `[${span.service}] ${formatDuration(span.durationMs)}`)}` +
        (details === '' ? '' : `  ${paint('2', details)}`),
    );
    const kids = children.get(span.spanId) ?? [];
    const childPrefix = root ? prefix : prefix + (last ? '   ' : '│  ');
    kids.forEach((child, index) => walk(child, childPrefix, index === kids.length - 1, false));
  };
  const roots = children.get(undefined) ?? [];
  roots.forEach((root) => walk(root, '', true, true));
  return lines.join('\n');
}
