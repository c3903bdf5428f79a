'use strict';
/** The SVG chart of docs/performance.md: ratios to bare, a server and a client panel per Node line. */
const { NOOP_TARGET } = require('./tables');

const VARIANT_COLOURS = {
  'otinst-noop': '#2b8a3e',
  'otinst-jaeger': '#1c7ed6',
  'otinst-otel-shim': '#7048e8',
  otel: '#e8590c',
  'express-opentracing': '#868e96',
};
const MODE_COLOURS = { active: '#1c7ed6', none: '#0ca678' };

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

/** Server panel groups (one per framework) and client panel groups (one per client) of one line. */
function groupsOf(results) {
  const variantKeys = Object.keys(VARIANT_COLOURS).filter((key) =>
    Object.values(results.servers ?? {}).some((r) => r.variants && r.variants[key]),
  );
  const servers = Object.entries(results.servers ?? {}).map(([framework, result]) => ({
    label: framework,
    bars: variantKeys
      .filter((key) => result.variants[key])
      .map((key) => ({
        key,
        value: result.variants[key].ratio ?? null,
        // a variant that made no span measured an app that was not traced
        untraced: result.variants[key].spans === 0,
      })),
  }));
  const clients = Object.entries(results.clients?.clients ?? {}).map(([name, c]) =>
    c.skipped
      ? { label: `${name} (skipped)`, bars: [] }
      : {
          label: name,
          bars: [
            { key: 'active', value: c.active.ratio },
            { key: 'none', value: c.none.ratio },
          ],
        },
  );
  return { variantKeys, servers, clients };
}

/** The chart for the Node lines `lines` (results objects), stacked. */
function svgChart(lines) {
  const width = 960;
  const elements = [];
  let y = 56;
  const all = lines.map(groupsOf);
  const ratios = all.flatMap((g) =>
    [...g.servers, ...g.clients].flatMap((group) => group.bars.map((bar) => bar.value)),
  );
  const max = Math.max(1.25, Math.ceil(Math.max(0, ...ratios.filter(Number.isFinite)) * 4) / 4);
  lines.forEach((results, i) => {
    const { variantKeys, servers, clients } = all[i];
    const node = `Node ${results.node.version}`;
    if (servers.length > 0) {
      elements.push(
        ...panel({
          x: 16,
          y,
          width: width - 32,
          height: 320,
          title: `${node}: server throughput, ratio to the bare framework (higher is better; line = bare)`,
          groups: servers,
          colours: VARIANT_COLOURS,
          legend: variantKeys.map((key) => [key, key]),
          max,
          target: { value: NOOP_TARGET, label: `otinst + no-op target ${NOOP_TARGET.toFixed(2)}` },
        }),
      );
      y += 340;
    }
    if (clients.length > 0) {
      elements.push(
        ...panel({
          x: 16,
          y,
          width: width - 32,
          height: 260,
          title: `${node}: client hooks, ops/s ratio to the unhooked client`,
          groups: clients,
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
  });
  const first = lines[0];
  const subtitle =
    `${first.date.slice(0, 10)}, ${first.machine.cpu} (${first.machine.cores} cores), ` +
    `${first.settings.rounds} rounds × ${first.settings.duration} s, ${first.settings.connections} connections`;
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

module.exports = { svgChart };
