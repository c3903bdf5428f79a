'use strict';
/**
 * The targets of issue 16 and the Markdown tables, the Node lines side by side
 * (docs/performance.md; the terminal gets the same for one line).
 */

const CLIENT_TARGETS = { pg: 0.9, redis: 0.9, http: 0.85, fetch: 0.85 };
const NOOP_TARGET = 0.9;
const NO_SPAN_TARGET = 0.98;

const integer = (value) => (typeof value === 'number' ? Math.round(value).toLocaleString('en-US') : '–');
const fixed = (value, digits) => (typeof value === 'number' ? value.toFixed(digits) : '–');
/** A throughput ratio, with the CPU-time ratio beside it when measured. */
const withCpu = (ratio, cpuRatio) =>
  typeof cpuRatio === 'number' ? `${fixed(ratio, 3)} (CPU ${fixed(cpuRatio, 3)})` : fixed(ratio, 3);
const signed = (value, unit) => (typeof value === 'number' ? `${value >= 0 ? '+' : ''}${value}${unit}` : '–');

function markdownTable(header, rows, rightFrom = 2) {
  const align = header.map((_, i) => (i < rightFrom ? '---' : '---:'));
  return [header, align, ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

/** Each target of issue 16 for one Node line: `{ key, target, value, pass }` (pass null: not measured). */
function targets(results) {
  const checks = [];
  for (const [framework, result] of Object.entries(results.servers ?? {})) {
    const v = result.variants ?? {};
    const noop = v['otinst-noop'];
    if (noop && !noop.unavailable) {
      // an adapter that started no span measured an untraced app
      const traced = noop.spans !== 0;
      checks.push({
        key: `noop:${framework}`,
        target: `${framework}: otinst + no-op ≥ ${NOOP_TARGET} of bare`,
        value: traced ? withCpu(noop.ratio, noop.cpuRatio) : 'no spans',
        pass: traced && typeof noop.ratio === 'number' ? noop.ratio >= NOOP_TARGET : null,
      });
    }
    const jaeger = v['otinst-jaeger'];
    const otel = v.otel;
    if (jaeger && otel && !jaeger.unavailable && !otel.unavailable) {
      const traced = jaeger.spans !== 0 && otel.spans !== 0;
      const ours = traced && typeof jaeger.ratio === 'number' ? 1 - jaeger.ratio : null;
      const theirs = typeof otel.ratio === 'number' ? 1 - otel.ratio : null;
      const measured = ours !== null && theirs !== null && theirs > 0;
      const cpu =
        typeof jaeger.cpuRatio === 'number' && typeof otel.cpuRatio === 'number' && otel.cpuRatio < 1
          ? `; CPU ${fixed((1 - jaeger.cpuRatio) * 100, 1)}% vs ${fixed((1 - otel.cpuRatio) * 100, 1)}%`
          : '';
      checks.push({
        key: `jaeger:${framework}`,
        target: `${framework}: otinst + jaeger overhead ≤ 1/3 of OpenTelemetry's`,
        value: measured
          ? `${fixed(ours * 100, 1)}% vs ${fixed(theirs * 100, 1)}% (${fixed(ours / theirs, 2)} of it${cpu})`
          : '–',
        pass: measured ? ours <= theirs / 3 : null,
      });
    }
  }
  for (const [name, c] of Object.entries(results.clients?.clients ?? {})) {
    if (c.skipped) continue;
    // a hook that made no span measured nothing: not a pass
    const hooked = c.active.spansPerOp !== 0;
    checks.push({
      key: `active:${name}`,
      target: `${name}: hooked, active jaeger span ≥ ${CLIENT_TARGETS[name]} of bare`,
      value: hooked ? withCpu(c.active.ratio, c.active.cpuRatio) : 'no spans',
      pass: hooked && typeof c.active.ratio === 'number' ? c.active.ratio >= CLIENT_TARGETS[name] : null,
    });
    checks.push({
      key: `none:${name}`,
      target: `${name}: hooked, no active span ≥ ${NO_SPAN_TARGET} of bare`,
      value: hooked ? withCpu(c.none.ratio, c.none.cpuRatio) : 'no spans',
      pass: hooked && typeof c.none.ratio === 'number' ? c.none.ratio >= NO_SPAN_TARGET : null,
    });
  }
  const startup = results.startup;
  if (startup && !startup.error) {
    for (const [metric, unit, label] of [
      ['ms', ' ms', 'time'],
      ['rssMiB', ' MiB', 'RSS'],
    ]) {
      checks.push({
        key: `startup:${metric}`,
        target: `start-up ${label}: the express adapter adds ≤ what express adds`,
        value: `${signed(startup.adapter[metric], unit)} vs ${signed(startup.express[metric], unit)}`,
        pass: startup.adapter[metric] <= startup.express[metric],
      });
    }
  }
  return checks;
}

const verdict = (pass) => (pass === true ? 'met' : pass === false ? '**not met**' : 'n/a');

/** The terminal summary of one Node line: the same Markdown as the docs. */
function lineSummary(results) {
  return markdown([results]);
}

function runLine(results) {
  const s = results.settings;
  const load = results.machine.loadAverageAtStart[0];
  const end = results.machine.loadAverageAtEnd?.[0] ?? '?';
  return (
    `Node ${results.node.version}: run of ${results.date.slice(0, 16).replace('T', ' ')} UTC, ${results.seconds} s, ` +
    `on ${results.machine.cpu} (${results.machine.cores} cores); autocannon under Node ${results.node.loadGenerator}; ` +
    `${s.rounds} rounds × ${s.duration} s per server run (${s.warmup} s warm-up), ${s.connections} connections; ` +
    `client runs ${s.clientRounds} rounds × ${s.clientDuration} s; load average ${load} at the start, ${end} at the end.`
  );
}

// ---------------------------------------------------------------------------
// Markdown, one column group per Node line

/** One table row per key, one cell group per line: `cells(result, key)` returns the group's cells. */
function sideBySide(lines, keys, label, cells, width) {
  return keys.map((key) => [...label(key), ...lines.flatMap((r) => cells(r, key) ?? Array(width).fill('–'))]);
}

function targetsMarkdown(lines) {
  const perLine = lines.map((r) => new Map(targets(r).map((c) => [c.key, c])));
  const keys = [...new Set(perLine.flatMap((m) => [...m.keys()]))];
  const rows = keys.map((key) => {
    const first = perLine.find((m) => m.has(key)).get(key);
    return [
      first.target,
      ...perLine.map((m) => {
        const c = m.get(key);
        return c ? `${c.value} — ${verdict(c.pass)}` : '–';
      }),
    ];
  });
  return markdownTable(['target', ...lines.map((r) => `Node ${r.node.version}`)], rows, 99);
}

function serversMarkdown(lines) {
  const keys = [];
  for (const r of lines)
    for (const [framework, result] of Object.entries(r.servers ?? {}))
      for (const variant of Object.keys(result.variants ?? {}))
        if (!keys.includes(`${framework} ${variant}`)) keys.push(`${framework} ${variant}`);
  const rows = sideBySide(
    lines,
    keys,
    (key) => key.split(' '),
    (r, key) => {
      const [framework, variant] = key.split(' ');
      const v = r.servers?.[framework]?.variants?.[variant];
      if (!v) return null;
      if (v.unavailable) return ['n/a', '', '', '', ''];
      return [
        integer(v.reqPerSec),
        fixed(v.ratio, 3),
        fixed(v.cpuUsPerRequest, 1),
        fixed(v.cpuRatio, 3),
        fixed(v.spansPerRequest, 2),
      ];
    },
    5,
  );
  const header = ['framework', 'variant'];
  for (const r of lines) header.push(`${r.node.version} req/s`, 'ratio', 'CPU µs/req', 'CPU ratio', 'spans/req');
  const spread = lines
    .map(
      (r) =>
        `Node ${r.node.version}: ` +
        Object.entries(r.servers ?? {})
          .filter(([, result]) => typeof result.bareSpread === 'number')
          .map(([framework, result]) => `${framework} ${Math.round(result.bareSpread * 100)}%`)
          .join(', '),
    )
    .join('; ');
  return `${markdownTable(header, rows)}\n\nSpread of the bare runs ((max − min) / median): ${spread}.`;
}

function clientsMarkdown(lines) {
  const names = [...new Set(lines.flatMap((r) => Object.keys(r.clients?.clients ?? {})))];
  const keys = names.flatMap((name) => ['bare', 'active', 'none'].map((mode) => `${name} ${mode}`));
  const modeLabel = { bare: 'not hooked', active: 'hooked, active jaeger span', none: 'hooked, no active span' };
  const rows = sideBySide(
    lines,
    keys,
    (key) => {
      const [name, mode] = key.split(' ');
      return [name, modeLabel[mode]];
    },
    (r, key) => {
      const [name, mode] = key.split(' ');
      const c = r.clients?.clients?.[name];
      if (!c) return null;
      if (c.skipped) return ['skipped', '', ''];
      return [integer(c[mode].opsPerSec), fixed(c[mode].ratio, 3), fixed(c[mode].cpuRatio, 3)];
    },
    3,
  );
  const header = ['client', 'mode'];
  for (const r of lines) header.push(`${r.node.version} ops/s`, 'ratio', 'CPU ratio');
  const operations = names
    .map((name) => {
      const c = lines.map((r) => r.clients?.clients?.[name]).find((entry) => entry && !entry.skipped);
      return c ? `${name}: ${c.operation}, ${c.concurrency} concurrent` : null;
    })
    .filter(Boolean);
  return `${markdownTable(header, rows)}\n\nOperations: ${operations.join('; ')}.`;
}

function coreMarkdown(lines) {
  const tracers = [...new Set(lines.flatMap((r) => (r.core?.rows ?? []).map((row) => row.tracer)))];
  const rows = sideBySide(
    lines,
    tracers,
    (tracer) => [tracer],
    (r, tracer) => {
      const row = (r.core?.rows ?? []).find((entry) => entry.tracer === tracer);
      return row ? [integer(row.otinstNs), integer(row.rawNs), integer(row.ownNs)] : null;
    },
    3,
  );
  const header = ['tracer'];
  for (const r of lines) header.push(`${r.node.version} otinst ns`, 'tracer alone ns', 'otinst own ns');
  return markdownTable(header, rows, 1);
}

function startupMarkdown(lines) {
  const kinds = ['node', 'express', 'express+otinst'];
  const label = {
    node: 'empty process',
    express: "`require('express')` + `express()`",
    'express+otinst': '… + `tracingMiddleware(tracer, { clientHooks: true })`',
  };
  const rows = sideBySide(
    lines,
    kinds,
    (kind) => [label[kind]],
    (r, kind) => {
      const k = r.startup?.kinds?.[kind];
      return k ? [fixed(k.ms, 1), fixed(k.rssMiB, 1), integer(k.modules)] : null;
    },
    3,
  );
  const header = ['process'];
  for (const r of lines) header.push(`${r.node.version} ms`, 'RSS MiB', 'modules');
  const loaded = lines.find((r) => r.startup?.adapter?.packages)?.startup.adapter.packages ?? [];
  return (
    `${markdownTable(header, rows, 1)}\n\nPackages the adapter loaded (${loaded.length}): ` +
    `${loaded.map((name) => `\`${name}\``).join(', ') || 'none'}.`
  );
}

/** The Markdown block between the results markers of docs/performance.md. */
function markdown(lines) {
  const parts = lines.map((r) => `_${runLine(r)}_`);
  parts.push('#### Targets', targetsMarkdown(lines));
  if (lines.some((r) => r.servers)) {
    parts.push(
      '#### Servers (`GET /users/:id`; ratio = req/s over the adjacent bare runs, CPU ratio = the same for ' +
        'requests per CPU-second of the server process; medians of the rounds)',
    );
    parts.push(serversMarkdown(lines));
  }
  if (lines.some((r) => r.clients)) {
    parts.push(
      '#### Client hooks (ratio = ops/s over the adjacent unhooked runs, CPU ratio = the same for operations ' +
        'per CPU-second of the client process; medians of the rounds)',
    );
    parts.push(clientsMarkdown(lines));
  }
  if (lines.some((r) => r.startup)) {
    const samples = lines.find((r) => r.startup)?.startup.samples;
    parts.push(`#### Start-up (fresh process each, time since process start and RSS, median of ${samples})`);
    parts.push(startupMarkdown(lines));
  }
  if (lines.some((r) => r.core)) {
    parts.push('#### Core server-span path (`startServerSpan` + `setRoute` + `finish`, ns per request, median)');
    parts.push(coreMarkdown(lines));
  }
  return parts.join('\n\n');
}

module.exports = { targets, lineSummary, markdown, NOOP_TARGET };
