import { createRouter, createWebHistory } from 'vue-router'
import { session, loadMe, setUnauthorizedHandler } from './api.js'
import Login from './pages/Login.vue'
import Workbench from './pages/Workbench.vue'

// Login and the workbench (the first screen after sign-in) are in the entry
// chunk; the other pages load on first visit, so ECharts stays out of the
// first load.
const routes = [
  { path: '/login', component: Login, meta: { public: true, title: '登录' } },
  { path: '/', component: Workbench, meta: { title: '工作台' } },
  { path: '/customers', component: () => import('./pages/Customers.vue'), meta: { title: '客户' } },
  { path: '/customers/:id', component: () => import('./pages/Customer.vue'), meta: { title: '客户详情' } },
  { path: '/reports', component: () => import('./pages/Reports.vue'), meta: { title: '报表' } },
  { path: '/channels', component: () => import('./pages/Channels.vue'), meta: { title: '渠道活码', lead: true } },
  { path: '/campaigns', component: () => import('./pages/Campaigns.vue'), meta: { title: '群发', lead: true } },
  { path: '/journeys', component: () => import('./pages/Journeys.vue'), meta: { title: '跟进旅程', lead: true } },
  { path: '/reminders', component: () => import('./pages/Reminders.vue'), meta: { title: '提醒' } },
  { path: '/quick-replies', component: () => import('./pages/QuickReplies.vue'), meta: { title: '话术库' } },
  { path: '/settings', component: () => import('./pages/Settings.vue'), meta: { title: '设置', admin: true } },
  { path: '/:rest(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory('/console/'), routes })

function toLogin(next) {
  return { path: '/login', query: next && next !== '/' && !next.startsWith('/login') ? { next: '/console' + next } : {} }
}

setUnauthorizedHandler(() => {
  const cur = router.currentRoute.value
  if (!cur.meta.public) router.replace(toLogin(cur.fullPath))
})

router.beforeEach(async (to) => {
  document.title = (to.meta.title ? to.meta.title + ' · ' : '') + 'scrm 管理后台'
  if (to.meta.public) return true
  if (!session.me) {
    try {
      await loadMe()
    } catch (e) {
      if (e.status === 401) return toLogin(to.fullPath)
      session.loadError = e.message
      return true
    }
  }
  if (to.meta.admin && session.me?.role !== 'admin') return '/'
  if (to.meta.lead && !['admin', 'manager'].includes(session.me?.role)) return '/'
  return true
})
