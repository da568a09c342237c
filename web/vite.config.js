import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The console is served by the scrm binary under /console/ from files embedded
// at build time. The build must be byte-for-byte reproducible (CI rebuilds and
// diffs web/dist), so nothing here depends on the clock or the machine.
export default defineConfig({
  base: '/console/',
  plugins: [
    vue(),
    // Element Plus components and their CSS are imported where a template
    // uses them, so the bundle carries only what the pages need.
    Components({ dts: false, resolvers: [ElementPlusResolver({ importStyle: 'css' })] }),
  ],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 700,
    reportCompressedSize: false,
    // Two pages share one build and its assets: the console (index.html)
    // and the chat sidebar (sidebar/index.html, served at /sidebar/). The
    // sidebar imports neither Element Plus nor ECharts, so its first load
    // stays small on a phone.
    rollupOptions: {
      input: { index: 'index.html', sidebar: 'sidebar/index.html' },
      // Vue itself, a few helpers and Vite's preload polyfill are what both
      // pages share; name their chunks for what they are (Rollup would name
      // the helpers' chunk after whichever of them it met first).
      output: {
        manualChunks: (id) => (/node_modules\/(@vue|vue)\//.test(id) ? 'vue'
          : /modulepreload-polyfill|\/src\/(api|format|clipboard)\.js$/.test(id) ? 'shared' : undefined),
      },
    },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/auth': 'http://127.0.0.1:8080' } },
})
