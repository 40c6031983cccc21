/**
 * The top self-time frames of `.cpuprofile` files (`node --cpu-prof`, e.g. `npm run bench -- --only hit
 * --profile DIR`), grouped by function and by where the code lives (authjwt, grpc-js, node internals,
 * GC, ...): what the "where the time goes" section of docs/benchmarks.md quotes.
 * Usage: node test/bench/top-frames.ts [--top N] FILE.cpuprofile...
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });

/** Where a frame's code lives. */
function area(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)' || name === '(program)') return name;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.includes('/dist/') || url.includes('/src/')) return `authjwt ${url.replace(/^.*\/(dist|src)\//, '')}`;
  if (url.startsWith('node:')) return `node ${url.slice(5)}`;
  return url || '(native)';
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const byFrame = new Map<string, number>();
  const byArea = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const where = area(url, functionName);
    if (where === '(idle)') continue;
    busy += us;
    const frame = `${functionName || '(anonymous)'} ${where.startsWith('authjwt') || !url.startsWith('node:') ? `${where}:${lineNumber + 1}` : where}`;
    byFrame.set(frame, (byFrame.get(frame) ?? 0) + us);
    const group = where.startsWith('authjwt')
      ? `authjwt ${where.split(' ')[1]!.split(/[/.]/)[0]}`
      : where.startsWith('node ')
        ? 'node internals'
        : where;
    byArea.set(group, (byArea.get(group) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  console.log(`${file}: busy ${(busy / 1e6).toFixed(2)} s`);
  console.log('  by area:');
  for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(v)}  ${k}`);
  console.log('  top frames (self time):');
  for (const [k, v] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${pct(v)}  ${k}`);
}
