import { createApp } from 'vue'
import Sidebar from './Sidebar.vue'
import { setClient, setUnauthorizedHandler } from '../api.js'
import './sidebar.css'

// The sidebar's calls say they come from the sidebar; a request without a
// session goes through WeCom's sign-in (OAuth2 inside WeCom) and comes back
// to this very URL.
setClient('sidebar')
let leaving = false
setUnauthorizedHandler(() => {
  if (leaving) return
  leaving = true
  location.replace('/auth/wecom/login?next=' + encodeURIComponent(location.pathname + location.search))
})

createApp(Sidebar).mount('#app')
