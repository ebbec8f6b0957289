// `npm run build`: each publishable package's src/ to dist/ (packages/*/tsconfig.build.json).
// JavaScript: esbuild transpiles the libraries file by file (no bundling: the module graph stays
// as written; the CLI alone is bundled, see bundleCli), ESM, with source maps that carry their sources (the tarball holds no src/); a file whose output
// is unchanged is not rewritten (a process running dist/ while a build runs, such as the CLI tests
// during test/packages/install.test.ts's `npm pack`, never sees a half-written file; a changed one
// is written beside and renamed over). Types: tsc emits the .d.ts files in build mode (`tsc -b`:
// project references in dependency order, each package resolving its siblings through their built
// types; a package whose sources did not change since its dist/.tsbuildinfo is skipped), with
// `--noCheck`: declarations only, no type check (the same .d.ts files, compared byte for byte on
// 2026-12-03, in half the CPU time: 7.4 s instead of 15.4 s for the four packages); type errors are
// `npm run typecheck`'s job, which `npm test` runs first. Non-TypeScript files under src/ (SQL
// migrations) are copied beside the JavaScript; files in dist/ whose source is gone are removed.
//
//   node scripts/build.mjs                  JavaScript and types of every package
//   node scripts/build.mjs --js             JavaScript only (what `npm start` needs: the root `prepare`)
//   node scripts/build.mjs --package NAME   the JavaScript of NAME, and the types of NAME and of what it imports
//                                           (each package's `prepack`, so `npm pack` ships a build)
//
// Runs on any Node npm runs on (the system Node 20 during `npm ci`): esbuild and tsc are
// JavaScript APIs, nothing here needs the platform Node.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Dependency order: a package's types are built after those of the packages it imports. */
export const PACKAGES = ['protocol', 'client', 'server', 'cli'];
/** What each package's types need built first. */
const NEEDS = { protocol: [], client: ['protocol'], server: ['protocol'], cli: ['protocol', 'client', 'server'] };

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

async function buildJs(pkg) {
  if (pkg === 'cli') return bundleCli();
  const { build } = await import('esbuild');
  const dir = join(ROOT, 'packages', pkg);
  const src = join(dir, 'src');
  const dist = join(dir, 'dist');
  const files = walk(src);
  removeOrphans(src, dist);
  const ts = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  const { outputFiles } = await build({
    write: false,
    // Paths in the output (source maps, the bundle's module comments) relative to the repository,
    // not to the caller's directory: `npm pack` runs this from the package's own directory, and a
    // different output there would replace dist/ under CLI processes started from it meanwhile.
    absWorkingDir: ROOT,
    entryPoints: ts,
    outdir: dist,
    outbase: src,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    sourcesContent: true,
    logLevel: 'warning',
  });
  for (const out of outputFiles) writeIfChanged(out.path, out.contents);
  for (const f of files.filter((f) => !f.endsWith('.ts'))) writeIfChanged(join(dist, relative(src, f)), readFileSync(f));
}

/**
 * The CLI is one bundle (dist/main.js, and a chunk per part loaded on demand: the SDK, the QR
 * code), its dependencies inside: a command loads a few files instead of ~340 modules, each
 * resolved through package.json lookups (0.75 s of CPU per command before, about half of it
 * after; docs/BENCHMARKS.md, "CLI start"). The relay stays outside (`blindrelay server` loads the
 * installed @blindrelay/server, whose SQL migrations live beside its modules), and so do `ws`,
 * which the SDK requires at run time (a dependency of the CLI package too), and tsx.
 */
async function bundleCli() {
  const { build } = await import('esbuild');
  const dir = join(ROOT, 'packages', 'cli');
  const dist = join(dir, 'dist');
  const { outputFiles } = await build({
    write: false,
    absWorkingDir: ROOT, // as in buildJs: the same bytes whichever directory runs the build
    entryPoints: { main: join(dir, 'src', 'main.ts') },
    outdir: dist,
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The repository's packages from their sources (the same code their dist/ holds).
    conditions: ['@blindrelay/source'],
    // A dependency's ESM build where it has one: a CommonJS module imported with `import()` would
    // become a chunk whose only export is `default` (esbuild's splitting), so `m.client` of
    // @serenity-kit/opaque (CommonJS `main`, ESM `module`) would be undefined.
    mainFields: ['module', 'main'],
    external: ['@blindrelay/server', '@blindrelay/server/*', 'ws', 'tsx', 'tsx/*'],
    // CommonJS dependencies (commander) require Node's built-ins: give each module a `require`.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    sourcemap: true,
    sourcesContent: true,
    logLevel: 'warning',
  });
  const written = new Set(outputFiles.map((o) => o.path));
  for (const out of outputFiles) writeIfChanged(out.path, out.contents);
  // JavaScript of an earlier build (chunks by another hash, per-file modules); types stay.
  if (existsSync(dist)) for (const f of walk(dist)) if (/\.js(\.map)?$/.test(f) && !written.has(f)) rmSync(f);
}

/** Write `path` only when its bytes change, through a temporary file renamed over it (atomic on one file system). */
function writeIfChanged(path, bytes) {
  if (existsSync(path) && Buffer.compare(readFileSync(path), bytes) === 0) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** Remove what dist/ holds for a source that no longer exists (a renamed or deleted module). */
function removeOrphans(src, dist) {
  if (!existsSync(dist)) return;
  for (const f of walk(dist)) {
    const rel = relative(dist, f);
    const base = rel.replace(/\.(js\.map|js|d\.ts)$/, '');
    if (rel === '.tsbuildinfo') continue;
    if (!existsSync(join(src, `${base}.ts`)) && !existsSync(join(src, rel))) rmSync(f);
  }
}

/** tsc's build mode: the packages' project references in order, each skipped while up to date. */
function buildTypes(pkgs) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const projects = pkgs.map((pkg) => join(ROOT, 'packages', pkg, 'tsconfig.build.json'));
  const r = spawnSync(process.execPath, [tsc, '-b', '--noCheck', ...projects], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`build: tsc -b failed for ${pkgs.join(', ')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const jsOnly = process.argv.includes('--js');
  const only = process.argv.includes('--package') ? process.argv[process.argv.indexOf('--package') + 1] : undefined;
  if (only !== undefined && !PACKAGES.includes(only)) throw new Error(`build: --package is one of ${PACKAGES.join(', ')}`);
  const typed = jsOnly ? [] : only ? PACKAGES.filter((p) => p === only || NEEDS[only].includes(p)) : PACKAGES;
  const t0 = performance.now();
  await Promise.all((only ? [only] : PACKAGES).map(buildJs));
  const t1 = performance.now();
  if (typed.length) buildTypes(only ? [only] : typed);
  const t2 = performance.now();
  process.stderr.write(
    `build: JavaScript of ${only ?? PACKAGES.join(', ')} in ${Math.round(t1 - t0)} ms${typed.length ? `; types of ${typed.join(', ')} in ${Math.round(t2 - t1)} ms` : ''}\n`,
  );
}
