// Vite build of the studio: served by mlplane under /studio/, so every URL is based there.
// `npm run dev` proxies the API to a running server (MLPLANE_URL, default :5050).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const api = process.env.MLPLANE_URL ?? "http://127.0.0.1:5050";

export default defineConfig({
  base: "/studio/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 800,
    // No inline scripts or styles: the page runs under `default-src 'self'`.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: { proxy: { "/api": api } },
});
