import { defineConfig } from 'vite';
import { sourcesStamp } from './sources-digest.js';
import { subresourceIntegrity } from './sri.js';
import { withoutOpaque } from './without-opaque.js';
import { withoutScrypt } from './without-scrypt.js';

// The relay serves dist/ at / with a strict Content-Security-Policy (packages/server/src/web-app.ts):
// no inline script or style, nothing but this origin. So: no module-preload polyfill (inline), no
// inlined assets (data: URLs), and a plain ES2022 build.
export default defineConfig({
  base: '/',
  plugins: [withoutOpaque(), withoutScrypt(), subresourceIntegrity(), sourcesStamp()],
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
