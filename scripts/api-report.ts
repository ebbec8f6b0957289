/**
 * The public surface of each package, one Markdown file per package under api/ (checked in):
 * every entry point of its `exports` map, every name it exports with its kind and type as the
 * TypeScript checker sees it (functions by signature, classes and interfaces member by member).
 * A change to the surface shows up in review as a diff of api/*.api.md; test/api-report.test.ts
 * fails while the files are out of date.
 *
 *   npx tsx scripts/api-report.ts           check (exit 1 and a diff summary when out of date)
 *   npx tsx scripts/api-report.ts --write   write api/*.api.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const API_PACKAGES = ['protocol', 'client', 'server'] as const;

interface Entry {
  pkg: string;
  subpath: string;
  file: string;
}

function entries(): Entry[] {
  const out: Entry[] = [];
  for (const pkg of API_PACKAGES) {
    const json = JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    for (const [subpath, target] of Object.entries(json.exports)) {
      if (typeof target !== 'object' || target === null) continue;
      let source = (target as Record<string, unknown>)['@blindrelay/source'];
      if (typeof source === 'object' && source !== null) source = (source as Record<string, unknown>).default;
      if (typeof source === 'string') out.push({ pkg, subpath, file: join(ROOT, 'packages', pkg, source) });
    }
  }
  return out;
}

const FLAGS = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseFullyQualifiedType | ts.TypeFormatFlags.WriteArrayAsGenericType;

/** Members a class inherits from the platform (Error's `stack`, `captureStackTrace`, ...) are not ours to report. */
const fromPlatform = (p: ts.Symbol) => (p.declarations ?? []).every((d) => d.getSourceFile().fileName.includes('/node_modules/'));

function describe(checker: ts.TypeChecker, exported: ts.Symbol, at: ts.Node): string[] {
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const name = exported.name;
  const lines: string[] = [];
  // Our own modules by name; a dependency's by its package path (the checkout's location is not part of the API).
  const clean = (s: string) =>
    s
      .replace(/import\("[^"]*\/packages\/([a-z]+)\/src\/[^"]*"\)\./g, '')
      .replace(/import\("[^"]*\/node_modules\/([^"]+)"\)/g, 'import("$1")')
      .replace(/\s+/g, ' ');
  if (symbol.flags & ts.SymbolFlags.Function) {
    const type = checker.getTypeOfSymbolAtLocation(symbol, at);
    for (const sig of type.getCallSignatures()) lines.push(`function ${name}${clean(checker.signatureToString(sig, at, FLAGS))}`);
  } else if (symbol.flags & ts.SymbolFlags.Class) {
    lines.push(`class ${name}`);
    const type = checker.getTypeOfSymbolAtLocation(symbol, at);
    for (const sig of type.getConstructSignatures()) lines.push(`  new${clean(checker.signatureToString(sig, at, FLAGS))}`);
    for (const p of checker.getPropertiesOfType(type)) {
      if (p.name === 'prototype' || fromPlatform(p)) continue;
      lines.push(`  static ${p.name}: ${clean(checker.typeToString(checker.getTypeOfSymbolAtLocation(p, at), at, FLAGS))}`);
    }
    const instance = checker.getDeclaredTypeOfSymbol(symbol);
    for (const p of checker.getPropertiesOfType(instance)) {
      const decl = p.declarations?.[0];
      if (decl && ts.getCombinedModifierFlags(decl as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      if (p.name.startsWith('#') || fromPlatform(p)) continue;
      lines.push(`  ${p.name}: ${clean(checker.typeToString(checker.getTypeOfSymbolAtLocation(p, at), at, FLAGS))}`);
    }
  } else if (symbol.flags & ts.SymbolFlags.Interface) {
    lines.push(`interface ${name}`);
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    for (const p of checker.getPropertiesOfType(type)) {
      const optional = p.flags & ts.SymbolFlags.Optional ? '?' : '';
      lines.push(`  ${p.name}${optional}: ${clean(checker.typeToString(checker.getTypeOfSymbolAtLocation(p, at), at, FLAGS))}`);
    }
  } else if (symbol.flags & ts.SymbolFlags.TypeAlias) {
    lines.push(`type ${name} = ${clean(checker.typeToString(checker.getDeclaredTypeOfSymbol(symbol), at, FLAGS | ts.TypeFormatFlags.InTypeAlias))}`);
  } else if (symbol.flags & ts.SymbolFlags.Variable) {
    lines.push(`const ${name}: ${clean(checker.typeToString(checker.getTypeOfSymbolAtLocation(symbol, at), at, FLAGS))}`);
  } else if (symbol.flags & ts.SymbolFlags.Enum) {
    lines.push(`enum ${name}`);
  } else {
    lines.push(`${name} (flags ${symbol.flags})`);
  }
  return lines;
}

/** api/<pkg>.api.md as it should read for the sources as they are. */
export function apiReports(): Map<string, string> {
  const list = entries();
  const config = ts.parseJsonConfigFileContent(JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')), ts.sys, ROOT);
  const program = ts.createProgram(
    list.map((e) => e.file),
    config.options,
  );
  const checker = program.getTypeChecker();
  const reports = new Map<string, string>();
  for (const pkg of API_PACKAGES) {
    const out = [
      `# @blindrelay/${pkg}: public API`,
      '',
      'Generated by `npx tsx scripts/api-report.ts --write` from the entry points of its `exports` map; checked by',
      '`test/api-report.test.ts`. A diff here is a change to what users of the package can import.',
    ];
    for (const e of list.filter((x) => x.pkg === pkg)) {
      const sf = program.getSourceFile(e.file);
      if (!sf) throw new Error(`api-report: ${e.file} is not in the program`);
      const module = checker.getSymbolAtLocation(sf);
      const names = module ? checker.getExportsOfModule(module) : [];
      out.push('', `## ${e.subpath === '.' ? `@blindrelay/${pkg}` : `@blindrelay/${pkg}/${e.subpath.slice(2)}`}`, '', '```ts');
      for (const s of [...names].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) out.push(...describe(checker, s, sf));
      out.push('```');
    }
    reports.set(pkg, `${out.join('\n')}\n`);
  }
  return reports;
}

export const reportPath = (pkg: string) => join(ROOT, 'api', `${pkg}.api.md`);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const write = process.argv.includes('--write');
  let stale = 0;
  for (const [pkg, text] of apiReports()) {
    let current = '';
    try {
      current = readFileSync(reportPath(pkg), 'utf8');
    } catch {}
    if (current === text) continue;
    if (write) {
      writeFileSync(reportPath(pkg), text);
      process.stderr.write(`api-report: wrote api/${pkg}.api.md\n`);
    } else {
      stale++;
      process.stderr.write(`api-report: api/${pkg}.api.md is out of date (run npx tsx scripts/api-report.ts --write and review the diff)\n`);
    }
  }
  process.exitCode = stale ? 1 : 0;
}
