/**
 * The relay's web-app routes (src/web-app.ts): the build's files and nothing else, under the
 * strict Content-Security-Policy; a Host header is echoed into connect-src only when it is a host.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { contentSecurityPolicy, registerWebApp } from '../src/web-app.js';

const dir = mkdtempSync(join(tmpdir(), 'br-webroot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function app(root: string | false) {
  const a = Fastify();
  a.setNotFoundHandler((_q, r) => r.code(404).send({ code: 'not_found', message: 'no such route' }));
  const count = registerWebApp(a, { root });
  return { a, count };
}

describe('web app routes', () => {
  mkdirSync(join(dir, 'build', 'assets'), { recursive: true });
  writeFileSync(join(dir, 'build', 'index.html'), '<!doctype html><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(dir, 'build', 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'build', 'assets', 'notes.md'), 'not a served type');
  writeFileSync(join(dir, 'secret.txt'), 'outside the build');
  writeFileSync(join(dir, 'build', '.sources'), 'digest');

  it('serves index.html at / and the assets, with the policy and headers', async () => {
    const { a, count } = app(join(dir, 'build'));
    expect(count).toBe(2);
    const page = await a.inject({ url: '/', headers: { host: '127.0.0.1:8787' } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws://127.0.0.1:8787 wss://127.0.0.1:8787; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'",
    );
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-cache');
    const js = await a.inject({ url: '/assets/app.js?v=1' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toContain('immutable');
    expect(js.body).toBe('console.log(1)');
  });

  it('serves nothing outside the build, nor files of other types', async () => {
    const { a } = app(join(dir, 'build'));
    for (const url of ['/assets/../../secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/secret.txt', '/assets/notes.md', '/.sources', '/assets/']) {
      const r = await a.inject({ url });
      expect(r.statusCode, url).toBe(404);
      expect(r.body, url).not.toContain('outside the build');
    }
  });

  it('without a build, / is a 404 with a hint; with root false, there is no route at all', async () => {
    const missing = app(join(dir, 'nothing-here'));
    expect(missing.count).toBe(0);
    const r = await missing.a.inject({ url: '/' });
    expect(r.statusCode).toBe(404);
    expect(r.body).toContain('npm run build -w apps/web');
    expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    const off = app(false);
    expect((await off.a.inject({ url: '/' })).json()).toEqual({ code: 'not_found', message: 'no such route' });
  });

  it('echoes the Host header into connect-src only when it is a host name or address', () => {
    expect(contentSecurityPolicy('relay.example:443')).toContain("connect-src 'self' ws://relay.example:443 wss://relay.example:443;");
    expect(contentSecurityPolicy('[::1]:8787')).toContain('ws://[::1]:8787');
    for (const bad of ["evil; script-src 'unsafe-inline'", 'a b', 'x\r\ny', undefined, 'relay.example/path']) {
      expect(contentSecurityPolicy(bad)).toContain("connect-src 'self'; ");
    }
  });
});
