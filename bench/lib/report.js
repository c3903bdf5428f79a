'use strict';
/** Tables (terminal and Markdown), the target checks and the SVG chart, from a results object. */

const VARIANT_COLOURS = {
  'otinst-noop': '#2b8a3e',
  'otinst-jaeger': '#1c7ed6',
  'otinst-otel-shim': '#7048e8',
  otel: '#e8590c',
  'express-opentracing': '#868e96',
};
const MODE_COLOURS = { active: '#1c7ed6', none: '#0ca678' };

/** Targets of the issue that asked for this benchmark. */
const CLIENT_TARGETS = { pg: 0.9, redis: 0.9, http: 0.85, fetch: 0.85 };
const NOOP_TARGET = 0.9;
const NO_SPAN_TARGET = 0.98;

const integer = (value) => (typeof value === 'number' ? Math.round(value).toLocaleString('en-US') : '–');
const fixed = (value, digits) => (typeof value === 'number' ? value.toFixed(digits) : '–');
const ms = (value) => (typeof value === 'number' ? String(value) : '–');

function textTable(header, rows) {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => String(row[i]).length)));
  const line = (row) =>
    row.map((cell, i) => (i === 0 || i === 1 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i])));
  return [line(header).join('  '), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(r).join('  '))]
    .map((text) => text.trimEnd())
    .join('\n');
}

function markdownTable(header, rows, rightFrom = 2) {
  const align = header.map((_, i) => (i < rightFrom ? '---' : '---:'));
  return [header, align, ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

function serverRows(servers) {
  const rows = [];
  for (const [framework, result] of Object.entries(servers ?? {})) {
    if (result.error) {
      rows.push([framework, `failed: ${result.error}`, '', '', '', '', '', '']);
      continue;
    }
    for (const [variant, v] of Object.entries(result.variants)) {
      if (v.unavailable) {
        rows.push([framework, variant, 'n/a', '', '', '', '', '']);
        continue;
      }
      const spans = typeof v.spansPerRequest === 'number' ? fixed(v.spansPerRequest, 2) : '–';
      const errors = v.errors > 0 ? ` (${v.errors} errors)` : '';
      rows.push([
        framework,
        variant,
        integer(v.reqPerSec) + errors,
        ms(v.p50),
        ms(v.p99),
        fixed(v.ratio, 3),
        spans,
        integer(v.startupMs),
      ]);
    }
  }
  return rows;
}

const SERVER_HEADER = ['framework', 'variant', 'req/s', 'p50 ms', 'p99 ms', 'ratio', 'spans/req', 'start ms'];

/** How far apart the bare runs of each framework were: the noise floor of that invocation. */
function spreadLine(servers) {
  const parts = Object.entries(servers ?? {})
    .filter(([, result]) => typeof result.bareSpread === 'number')
    .map(([framework, result]) => `${framework} ${Math.round(result.bareSpread * 100)}%`);
  return parts.length === 0 ? '' : `Spread of the bare runs ((max - min) / median): ${parts.join(', ')}.`;
}

function serversTable(servers) {
  return `${textTable(SERVER_HEADER, serverRows(servers))}\n${spreadLine(servers)}`;
}

function clientRows(result) {
  const rows = [];
  for (const [name, c] of Object.entries(result?.clients ?? {})) {
    if (c.skipped) {
      rows.push([name, c.skipped, '', '', '', '', '', '']);
      continue;
    }
    rows.push([
      name,
      `${c.operation}, ${c.concurrency} concurrent`,
      integer(c.bare.opsPerSec),
      integer(c.active.opsPerSec),
      fixed(c.active.ratio, 3),
      integer(c.none.opsPerSec),
      fixed(c.none.ratio, 3),
      fixed(c.active.spansPerOp, 2),
    ]);
  }
  return rows;
}

const CLIENT_HEADER = [
  'client',
  'operation',
  'bare ops/s',
  'span ops/s',
  'ratio',
  'no-span ops/s',
  'ratio',
  'spans/op',
];

function clientsTable(result) {
  return textTable(CLIENT_HEADER, clientRows(result));
}

const CORE_HEADER = ['tracer', 'path', 'otinst ns/req', 'tracer alone ns', 'otinst own ns'];

function coreRows(result) {
  return (result?.rows ?? []).map((row) => [
    row.tracer,
    'startServerSpan+setRoute+finish',
    integer(row.otinstNs),
    integer(row.rawNs),
    integer(row.ownNs),
  ]);
}

function coreTable(result) {
  return textTable(CORE_HEADER, coreRows(result));
}

/** Each target of the issue: what was measured and whether it holds (null: not measured). */
function targets(results) {
  const checks = [];
  for (const [framework, result] of Object.entries(results.servers ?? {})) {
    const v = result.variants ?? {};
    const noop = v['otinst-noop'];
    if (noop) {
      const traced = noop.spans !== 0;
      checks.push({
        target: `${framework}: otinst + no-op >= ${NOOP_TARGET} of bare`,
        value: traced ? (noop.ratio ?? null) : 'the adapter started no spans',
        pass: traced && typeof noop.ratio === 'number' ? noop.ratio >= NOOP_TARGET : null,
      });
    }
    const jaeger = v['otinst-jaeger'];
    const otel = v.otel;
    if (jaeger && otel) {
      // an instrumentation that made no spans measured nothing
      const traced = jaeger.spans !== 0 && otel.spans !== 0;
      const ours = traced && typeof jaeger.ratio === 'number' ? 1 - jaeger.ratio : null;
      const theirs = typeof otel.ratio === 'number' ? 1 - otel.ratio : null;
      checks.push({
        target: `${framework}: otinst + jaeger overhead <= 1/3 of OpenTelemetry's`,
        value: ours !== null && theirs !== null ? `${fixed(ours * 100, 1)}% vs ${fixed(theirs * 100, 1)}%` : null,
        pass: ours !== null && theirs !== null && theirs > 0 ? ours <= theirs / 3 : null,
      });
    }
  }
  for (const [name, c] of Object.entries(results.clients?.clients ?? {})) {
    if (c.skipped) continue;
    // a hook that made no span measured nothing: not a pass
    const hooked = c.active.spansPerOp !== 0;
    checks.push({
      target: `${name}: hooked with a jaeger span >= ${CLIENT_TARGETS[name]} of bare`,
      value: hooked ? c.active.ratio : 'the hook made no spans',
      pass: hooked && typeof c.active.ratio === 'number' ? c.active.ratio >= CLIENT_TARGETS[name] : null,
    });
    checks.push({
      target: `${name}: hooked without an active span >= ${NO_SPAN_TARGET} of bare`,
      value: hooked ? c.none.ratio : 'the hook made no spans',
      pass: hooked && typeof c.none.ratio === 'number' ? c.none.ratio >= NO_SPAN_TARGET : null,
    });
  }
  return checks;
}

const verdict = (pass) => (pass === true ? 'met' : pass === false ? 'NOT met' : 'n/a');

function targetsTable(checks) {
  return textTable(
    ['target', 'measured', 'verdict'],
    checks.map((c) => [c.target, c.value ?? '–', verdict(c.pass)]),
  );
}

function runLine(results) {
  const s = results.settings;
  return (
    `Run of ${results.date} on ${results.machine.cpu} (${results.machine.cores} cores); servers, client and core ` +
    `benchmarks under Node ${results.node.servers}, autocannon under Node ${results.node.loadGenerator}; ` +
    `${s.rounds} rounds x ${s.duration} s per server run (${s.warmup} s warm-up), ${s.connections} connections; ` +
    `client runs ${s.clientRounds} rounds x ${s.clientDuration} s; load average ` +
    `${results.machine.loadAverageAtStart[0]} at the start, ${results.machine.loadAverageAtEnd?.[0] ?? '?'} at the end.`
  );
}

/** The Markdown block that `run.js` writes into docs/performance.md after a full run. */
function markdown(results) {
  const parts = [`_${runLine(results)}_`];
  if (results.servers) {
    parts.push('#### Servers (`GET /users/:id`, ratio = variant req/s over the adjacent bare runs, median)');
    parts.push(markdownTable(SERVER_HEADER, serverRows(results.servers)));
    parts.push(spreadLine(results.servers));
  }
  if (results.clients) {
    parts.push('#### Client hooks (ratio = ops/s over the adjacent bare runs, median)');
    parts.push(markdownTable(CLIENT_HEADER, clientRows(results.clients)));
  }
  if (results.core) {
    parts.push(`#### Core server-span path (median of ${results.core.samples} samples)`);
    parts.push(markdownTable(CORE_HEADER, coreRows(results.core)));
  }
  const checks = targets(results);
  if (checks.length > 0) {
    parts.push('#### Targets');
    parts.push(
      markdownTable(
        ['target', 'measured', 'verdict'],
        checks.map((c) => [c.target, c.value ?? '–', verdict(c.pass)]),
        1,
      ),
    );
  }
  return parts.join('\n\n');
}

const escape = (text) =>
  String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);

/**
 * One bar panel: `groups` = [{ label, bars: [{ key, value }] }], `colours` by key.
 * Returns the SVG elements and the panel's height.
 */
function panel({ x, y, width, height, title, groups, colours, legend, max, target }) {
  const out = [];
  const plotTop = y + 34;
  const plotBottom = y + height - 46;
  const plotHeight = plotBottom - plotTop;
  const left = x + 44;
  const plotWidth = width - 54;
  const scale = (value) => plotBottom - (Math.max(0, Math.min(value, max)) / max) * plotHeight;
  out.push(`<text x="${x}" y="${y + 14}" class="title">${escape(title)}</text>`);
  for (let tick = 0; tick <= max + 1e-9; tick += 0.25) {
    const ty = scale(tick).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${ty}" y2="${ty}" class="grid"/>`);
    out.push(`<text x="${left - 6}" y="${Number(ty) + 4}" class="axis" text-anchor="end">${tick.toFixed(2)}</text>`);
  }
  const groupWidth = plotWidth / Math.max(1, groups.length);
  groups.forEach((group, g) => {
    const gx = left + g * groupWidth;
    const barWidth = Math.min(34, (groupWidth - 24) / Math.max(1, group.bars.length));
    const start = gx + (groupWidth - barWidth * group.bars.length) / 2;
    group.bars.forEach((bar, b) => {
      const bx = start + b * barWidth;
      if (typeof bar.value !== 'number') {
        out.push(`<text x="${(bx + barWidth / 2).toFixed(1)}" y="${plotBottom - 4}" class="value">n/a</text>`);
        return;
      }
      const top = scale(bar.value);
      const faded = bar.untraced ? ' fill-opacity="0.25"' : '';
      const note = bar.untraced ? ' (no spans: not traced)' : '';
      out.push(
        `<rect x="${(bx + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" ` +
          `height="${(plotBottom - top).toFixed(1)}" fill="${colours[bar.key]}"${faded}><title>${escape(
            `${group.label} ${bar.key}: ${bar.value.toFixed(3)}${note}`,
          )}</title></rect>`,
      );
      if (bar.untraced) {
        const cx = (bx + barWidth / 2).toFixed(1);
        out.push(
          `<text x="${cx}" y="${plotBottom - 6}" class="value" transform="rotate(-90 ${cx} ${plotBottom - 6})" style="text-anchor:start">no spans</text>`,
        );
      }
      out.push(
        `<text x="${(bx + barWidth / 2).toFixed(1)}" y="${(top - 4).toFixed(1)}" class="value">${bar.value.toFixed(2)}</text>`,
      );
    });
    out.push(
      `<text x="${(gx + groupWidth / 2).toFixed(1)}" y="${plotBottom + 16}" class="label">${escape(group.label)}</text>`,
    );
  });
  const oneY = scale(1).toFixed(1);
  out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${oneY}" y2="${oneY}" class="bare"/>`);
  if (target !== undefined) {
    const targetY = scale(target.value).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${targetY}" y2="${targetY}" class="target"/>`);
    out.push(
      `<text x="${left + plotWidth}" y="${Number(targetY) - 3}" class="axis" text-anchor="end">${escape(target.label)}</text>`,
    );
  }
  let lx = left;
  for (const [key, text] of legend) {
    out.push(`<rect x="${lx}" y="${plotBottom + 28}" width="10" height="10" fill="${colours[key]}"/>`);
    out.push(`<text x="${lx + 14}" y="${plotBottom + 37}" class="legend">${escape(text)}</text>`);
    lx += 22 + text.length * 6.4;
  }
  return out;
}

/** The chart of the ratios to bare: one panel for the servers, one for the client hooks. */
function svgChart(results) {
  const width = 960;
  const elements = [];
  let y = 56;
  const ratios = [];
  const serverGroups = [];
  const variantKeys = Object.keys(VARIANT_COLOURS).filter((key) =>
    Object.values(results.servers ?? {}).some((r) => r.variants && r.variants[key]),
  );
  for (const [framework, result] of Object.entries(results.servers ?? {})) {
    const bars = variantKeys
      .filter((key) => result.variants[key])
      .map((key) => ({
        key,
        value: result.variants[key].ratio ?? null,
        // a variant that made no span measured an app that was not traced
        untraced: result.variants[key].spans === 0,
      }));
    bars.forEach((bar) => typeof bar.value === 'number' && ratios.push(bar.value));
    serverGroups.push({ label: `${framework}`, bars });
  }
  const clientGroups = [];
  for (const [name, c] of Object.entries(results.clients?.clients ?? {})) {
    if (c.skipped) {
      clientGroups.push({ label: `${name} (skipped)`, bars: [] });
      continue;
    }
    clientGroups.push({
      label: name,
      bars: [
        { key: 'active', value: c.active.ratio },
        { key: 'none', value: c.none.ratio },
      ],
    });
    ratios.push(c.active.ratio, c.none.ratio);
  }
  const max = Math.max(1.25, Math.ceil(Math.max(0, ...ratios.filter(Number.isFinite)) * 4) / 4);
  if (serverGroups.length > 0) {
    elements.push(
      ...panel({
        x: 16,
        y,
        width: width - 32,
        height: 320,
        title: 'Server throughput, ratio to the bare framework (higher is better; line = bare)',
        groups: serverGroups,
        colours: VARIANT_COLOURS,
        legend: variantKeys.map((key) => [key, key]),
        max,
        target: { value: NOOP_TARGET, label: `otinst + no-op target ${NOOP_TARGET.toFixed(2)}` },
      }),
    );
    y += 340;
  }
  if (clientGroups.length > 0) {
    elements.push(
      ...panel({
        x: 16,
        y,
        width: width - 32,
        height: 260,
        title: 'Client hooks, ops/s ratio to the unhooked client',
        groups: clientGroups,
        colours: MODE_COLOURS,
        legend: [
          ['active', 'hooked, active jaeger span'],
          ['none', 'hooked, no active span'],
        ],
        max,
      }),
    );
    y += 280;
  }
  const subtitle = `${results.date.slice(0, 10)}, Node ${results.node.servers}, ${results.machine.cpu} (${results.machine.cores} cores), ${results.settings.rounds} rounds x ${results.settings.duration} s, ${results.settings.connections} connections`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="system-ui, sans-serif">`,
    '<style>',
    '.title{font-size:14px;font-weight:600;fill:#212529}.sub{font-size:12px;fill:#495057}',
    '.axis{font-size:11px;fill:#868e96}.label{font-size:12px;fill:#212529;text-anchor:middle}',
    '.value{font-size:10px;fill:#343a40;text-anchor:middle}.legend{font-size:11px;fill:#343a40}',
    '.grid{stroke:#e9ecef}.bare{stroke:#212529;stroke-dasharray:4 3}.target{stroke:#c92a2a;stroke-dasharray:2 3}',
    '</style>',
    `<rect width="${width}" height="${y}" fill="#ffffff"/>`,
    '<text x="16" y="24" class="title" style="font-size:16px">otinst overhead: ratio to bare (1.00 = no overhead)</text>',
    `<text x="16" y="42" class="sub">${escape(subtitle)}</text>`,
    ...elements,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { serversTable, clientsTable, coreTable, targets, targetsTable, markdown, svgChart, runLine };
