import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const contracts = fileURLToPath(new URL('../../contracts/src/index.ts', import.meta.url));

// The gateway serves the build from services/web/dist at `/` (same origin as the API).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: { alias: { '@quire/contracts': contracts } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      treeshake: { moduleSideEffects: (id: string) => !id.includes('/contracts/src/') },
    },
  },
  server: {
    // `npm run dev -w @quire/web`: API and WebSockets go to a running gateway.
    proxy: {
      '/api': {
        target: process.env.QUIRE_GATEWAY_URL ?? 'http://127.0.0.1:8080',
        ws: true,
        changeOrigin: false,
      },
    },
  },
});
