// Summarise a V8 CPU profile (.cpuprofile: `PROFILE=F npx tsx bench/relay/e2e-cpu.ts 15`,
// `node --cpu-prof`, bench/cluster/cpu-profile.ts) in µs per unit of work:
//   node scripts/cpuprofile-summary.mjs FILE [UNITS=1] [self|inclusive|ours|tree] [MIN_US=1]
// UNITS: what to divide by (e.g. the messages delivered while profiling). Views:
//   self       time in each function itself;
//   inclusive  time in each function and everything it called (a function counted once per sample);
//   ours       each sample charged to its nearest frame in packages/*/dist (or a library's lib/):
//              where the SDK's own code spends, native calls included;
//   tree       the call tree, functions merged by name under each parent, down to MIN_US.
import { readFileSync } from 'node:fs';

const [file, unitsArg = '1', view = 'self', minArg = '1'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/cpuprofile-summary.mjs FILE [UNITS=1] [self|inclusive|ours|tree] [MIN_US=1]');
  process.exit(2);
}
const fail = (message) => {
  console.error(`cpuprofile-summary: ${message}`);
  process.exit(2);
};
let profile;
try {
  profile = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  fail(`cannot read ${file} as a CPU profile: ${e.message}`);
}
if (!Array.isArray(profile?.nodes) || !Array.isArray(profile?.samples) || profile.samples.length === 0) fail(`${file} is not a CPU profile with samples`);
const units = Number(unitsArg);
const minUs = Number(minArg);
if (!(units > 0) || !(minUs >= 0)) fail('UNITS must be a number above 0 and MIN_US a number of 0 or more');
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const hits = new Map();
for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
/** µs of one sample, per unit. */
const perSample = (profile.endTime - profile.startTime) / profile.samples.length / units;
const name = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
const print = (totals) => {
  for (const [k, c] of [...totals].sort((a, b) => b[1] - a[1])) {
    if (c * perSample >= minUs) console.log(`${(c * perSample).toFixed(1).padStart(8)} µs  ${k}`);
  }
};
const add = (m, k, c) => m.set(k, (m.get(k) ?? 0) + c);

if (view === 'self') {
  const totals = new Map();
  for (const [id, c] of hits) add(totals, name(byId.get(id)), c);
  print(totals);
} else if (view === 'inclusive') {
  const totals = new Map();
  for (const [id, c] of hits) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) seen.add(name(byId.get(cur)));
    for (const k of seen) add(totals, k, c);
  }
  print(totals);
} else if (view === 'ours') {
  const totals = new Map();
  for (const [id, c] of hits) {
    let label = byId.get(id).callFrame.functionName || '(anonymous)';
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur).callFrame;
      if (/packages\/[a-z]+\/dist\//.test(f.url) || f.url.includes('/lib/')) {
        label = `${f.url.split('/').slice(-2).join('/')} ${f.functionName || '(anonymous)'}`;
        break;
      }
    }
    add(totals, label, c);
  }
  print(totals);
} else if (view === 'tree') {
  const memo = new Map();
  const total = (id) => {
    if (!memo.has(id)) memo.set(id, (hits.get(id) ?? 0) + (byId.get(id).children ?? []).reduce((a, c) => a + total(c), 0));
    return memo.get(id);
  };
  const walk = (ids, depth) => {
    const merged = new Map();
    for (const id of ids) {
      const n = byId.get(id);
      const e = merged.get(name(n)) ?? { children: [], self: 0, total: 0 };
      e.children.push(...(n.children ?? []));
      e.self += hits.get(id) ?? 0;
      e.total += total(id);
      merged.set(name(n), e);
    }
    for (const [k, e] of [...merged].sort((a, b) => b[1].total - a[1].total)) {
      if (e.total * perSample < minUs) continue;
      console.log(`${'  '.repeat(depth)}${(e.total * perSample).toFixed(1)} µs (self ${(e.self * perSample).toFixed(1)}) ${k}`);
      walk(e.children, depth + 1);
    }
  };
  walk([profile.nodes[0].id], 0);
} else {
  console.error(`unknown view ${view}: self, inclusive, ours or tree`);
  process.exit(2);
}
