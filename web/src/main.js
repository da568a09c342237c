import { createApp } from 'vue'
import App from './App.vue'
import { router } from './router.js'
// Imperative Element Plus services are not seen by the template resolver;
// their styles are imported here once.
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import './style.css'

createApp(App).use(router).mount('#app')
