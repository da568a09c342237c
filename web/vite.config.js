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
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/auth': 'http://127.0.0.1:8080' } },
})
