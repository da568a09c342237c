// Times are stored in UTC and shown in the business time zone.
export const TZ = 'Asia/Shanghai'

const dtf = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false })
const df = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' })
const wf = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, weekday: 'short' })

export function fmtTime(s) {
  if (!s) return '—'
  const d = new Date(s)
  if (isNaN(d) || d.getTime() <= 0) return '—'
  return dtf.format(d).replace(/\//g, '-')
}

// dayKey is YYYY-MM-DD of an instant in the business time zone.
export function dayKey(s) {
  const d = new Date(s)
  if (isNaN(d)) return ''
  return df.format(d).replace(/\//g, '-')
}

export function weekday(s) { return wf.format(new Date(s)) }

export function minutesText(m) {
  if (m === undefined || m === null) return '—'
  m = Math.round(m)
  if (m < 60) return m + ' 分钟'
  if (m < 24 * 60) return Math.floor(m / 60) + ' 小时 ' + (m % 60) + ' 分'
  return Math.floor(m / 1440) + ' 天 ' + Math.floor((m % 1440) / 60) + ' 小时'
}

export function ago(s) {
  if (!s) return '—'
  const d = new Date(s)
  if (isNaN(d) || d.getTime() <= 0) return '从未'
  return minutesText((Date.now() - d.getTime()) / 60000) + '前'
}

export const roleNames = { admin: '管理员', manager: '主管', sales: '销售' }
export const stages = ['新线索', '跟进中', '已成交', '沉睡', '流失']
export const sentimentNames = { positive: '积极', neutral: '中性', negative: '消极' }
export const alertKinds = { complaint: '投诉', negative: '负面情绪', escalated: '已升级' }
export const reminderKinds = { promise: '承诺', manual: '手动', cadence: '跟进节奏', dormant: '沉睡唤醒', renewal: '续约', churn: '流失预警', sentiment: '情绪预警' }
export const statusNames = { pending: '待提醒', sent: '已提醒', done: '已完成', cancelled: '已取消' }

// lastContact is the later of the customer's last message and the last staff touch.
export function lastContact(c) {
  const a = c.last_customer_msg_at ? new Date(c.last_customer_msg_at).getTime() : 0
  const b = c.last_staff_touch_at ? new Date(c.last_staff_touch_at).getTime() : 0
  const m = Math.max(a, b)
  return m > 0 ? new Date(m).toISOString() : ''
}

// waiting: the customer spoke last and nobody answered since.
export function isWaiting(c) {
  if (!c.last_customer_msg_at) return false
  if (!c.last_staff_touch_at) return true
  return new Date(c.last_customer_msg_at) > new Date(c.last_staff_touch_at)
}

// tomorrowSameTime is when "推迟一天" moves a reminder to: a day after the
// later of now and its due time.
export function postponeOneDay(due) {
  const base = Math.max(Date.now(), new Date(due).getTime() || 0)
  return new Date(base + 24 * 3600 * 1000).toISOString()
}
