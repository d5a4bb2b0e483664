/// <reference types="vitest/config" />
// Vite builds the dashboard into dist/, which the gitops-live binary embeds and serves from `/`.
// Assets are referenced from the root ('/assets/...') because `/audit/<repo>` falls back to index.html.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    // The server's CSP forbids inline scripts; the preload polyfill would be bundled anyway, but
    // nothing here needs it (every supported browser has modulepreload).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
