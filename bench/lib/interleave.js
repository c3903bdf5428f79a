'use strict';
/**
 * The one bare/variant alternation of the server and client benchmarks:
 * bare, v1, bare, v2, bare, ..., bare, with the variant order reversed every
 * other round, so each variant run sits between two bare runs and no variant
 * always follows the same one. A variant run's ratio is its rate over the
 * mean of its two bare neighbours (a slow drift of the machine cancels out);
 * the reported ratio is the median over the rounds.
 */
const { median, mean, round } = require('./stats');

/** The rates a measurement may carry: throughput, and throughput per CPU-second of the measured process. */
const RATES = ['rate', 'cpuRate'];

/**
 * @param {string[]} variants the variants besides bare
 * @param {number} rounds measured runs of each variant (bare runs once more per variant)
 * @param {(name: string, label: string) => Promise<{ rate: number, cpuRate?: number }>} measure one run of 'bare' or a variant
 * @returns the runs by name; `ratios(name, key)`, one ratio per round; `ratio(name, key)`, their median
 *   (`key`: 'rate', the default, or 'cpuRate')
 */
async function interleave(variants, rounds, measure) {
  const runs = new Map([['bare', []], ...variants.map((name) => [name, []])]);
  const perKey = new Map(RATES.map((key) => [key, new Map(variants.map((name) => [name, []]))]));
  const run = async (name, label) => {
    const result = await measure(name, label);
    runs.get(name).push(result);
    return result;
  };
  let before = await run('bare', 'r1');
  if (variants.length === 0) for (let r = 2; r <= rounds; r++) await run('bare', `r${r}`);
  for (let r = 0; r < rounds; r++) {
    for (const name of r % 2 === 0 ? variants : variants.slice().reverse()) {
      const result = await run(name, `r${r + 1}`);
      const after = await run('bare', `r${r + 1}`);
      for (const key of RATES) {
        if (typeof result[key] !== 'number') continue;
        perKey
          .get(key)
          .get(name)
          .push(result[key] / mean([before[key], after[key]]));
      }
      before = after;
    }
  }
  const ratios = (name, key = 'rate') => perKey.get(key).get(name) ?? [];
  const ratio = (name, key = 'rate') => {
    if (name === 'bare') return 1;
    const values = ratios(name, key);
    return values.length === 0 ? null : round(median(values), 3);
  };
  return { runs, ratios, ratio };
}

/** (max − min) / median of the bare rates: how much the same bare app moved during one invocation. */
function bareSpread(runs) {
  const rates = runs.get('bare').map((run) => run.rate);
  return round((Math.max(...rates) - Math.min(...rates)) / median(rates), 3);
}

module.exports = { interleave, bareSpread };
