import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

// dist/README.txt is committed (see .gitignore) so that `go:embed all:dist`
// compiles before the UI is built. Vite empties dist/ on every build, so this
// plugin writes the placeholder back, byte for byte, to keep the work tree clean.
const placeholderPath = fileURLToPath(new URL('./dist/README.txt', import.meta.url));
function keepDistPlaceholder(): Plugin {
  let text = '';
  return {
    name: 'keep-dist-placeholder',
    apply: 'build',
    buildStart() {
      try {
        text = readFileSync(placeholderPath, 'utf8');
      } catch {
        text =
          'This folder is filled by the web UI build (make web, or: cd web && npm ci && npm run build).\n' +
          'This placeholder keeps `go build` working before the UI has been built.\n';
      }
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'README.txt', source: text });
    },
  };
}

const apiTarget = process.env.API_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [keepDistPlaceholder()],
  oxc: {
    jsx: { runtime: 'automatic' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/api': { target: apiTarget, changeOrigin: true },
    },
  },
  preview: {
    host: '127.0.0.1',
    port: 4173,
    proxy: {
      '/api': { target: apiTarget, changeOrigin: true },
    },
  },
});
