'use strict';
/**
 * Writes docs/performance.md (the section between the results markers) and
 * docs/performance.svg from the full runs in bench/results/node*.json, the
 * Node lines side by side. `npm run bench` calls it after a full run; alone:
 *
 *   node bench/report [bench/results/node24.json ...]
 */
const fs = require('node:fs');
const path = require('node:path');
const { markdown } = require('./tables');
const { svgChart } = require('./chart');

const ROOT = path.join(__dirname, '..', '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const DOC = path.join(ROOT, 'docs', 'performance.md');
const CHART = path.join(ROOT, 'docs', 'performance.svg');
const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

/** The committed result files, oldest Node line first. */
function resultFiles() {
  return fs
    .readdirSync(RESULTS)
    .filter((name) => /^node\d+\.json$/.test(name))
    .sort((a, b) => parseInt(a.slice(4), 10) - parseInt(b.slice(4), 10))
    .map((name) => path.join(RESULTS, name));
}

function writeReport(files = resultFiles()) {
  if (files.length === 0) throw new Error(`no results in ${path.relative(ROOT, RESULTS)} (run npm run bench first)`);
  const lines = files.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')));
  const text = fs.readFileSync(DOC, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start === -1 || end < start) throw new Error(`${path.relative(ROOT, DOC)} has no ${START} … ${END} section`);
  fs.writeFileSync(DOC, `${text.slice(0, start + START.length)}\n${markdown(lines)}\n${text.slice(end)}`);
  fs.writeFileSync(CHART, svgChart(lines));
  return [DOC, CHART].map((file) => path.relative(ROOT, file));
}

if (require.main === module) {
  try {
    const written = writeReport(
      process.argv.length > 2 ? process.argv.slice(2).map((f) => path.resolve(f)) : undefined,
    );
    console.log(`wrote ${written.join(' and ')}`);
  } catch (error) {
    console.error(error.message);
    process.exitCode = 1;
  }
}

module.exports = { writeReport };
