// The console talks to the same /api/v1 a script would. A session cookie
// carries the sign-in; every write sends the session's CSRF token from
// GET /api/v1/me; a 401 sends the person back to the sign-in page.
import { reactive } from 'vue'

export const session = reactive({ me: null })

let onUnauthorized = () => {}
export function setUnauthorizedHandler(fn) { onUnauthorized = fn }

export class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

// friendly turns a status and the server's text into a sentence a person reads.
function friendly(status, text) {
  if (status === 404) return '该功能暂未开放或数据不存在（404）'
  if (status === 403) return '没有权限执行此操作' + (text ? '：' + text : '')
  if (status === 409) return '操作冲突' + (text ? '：' + text : '')
  if (status === 400 || status === 422) return '输入有误' + (text ? '：' + text : '')
  if (status === 501) return '服务器未开启此功能（501）'
  if (status >= 500) return '服务器出错了，请稍后再试（' + status + '）'
  return '请求失败（' + status + '）' + (text ? '：' + text : '')
}

// client names the page making the calls: the sidebar says so in a header,
// and the server records its changes as the sidebar's.
let client = ''
export function setClient(name) { client = name }

let keySeq = 0
function idempotencyKey() {
  keySeq++
  const r = crypto.getRandomValues(new Uint32Array(2))
  return (client || 'console') + '-' + Date.now().toString(36) + '-' + r[0].toString(36) + r[1].toString(36) + '-' + keySeq
}

// key: a caller that may retry one action (a dialog's 创建 pressed twice)
// passes the same Idempotency-Key each time, so the server does it once.
export async function api(method, path, body, key) {
  const headers = { Accept: 'application/json' }
  if (client) headers['X-Scrm-Client'] = client
  const write = !['GET', 'HEAD', 'OPTIONS'].includes(method)
  if (write) {
    headers['X-CSRF-Token'] = session.me?.csrf_token || ''
    headers['Idempotency-Key'] = key || idempotencyKey()
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let res
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) })
  } catch (e) {
    throw new ApiError(0, '无法连接服务器，请检查网络')
  }
  if (res.status === 401) {
    session.me = null
    onUnauthorized()
    throw new ApiError(401, '登录已过期，请重新登录')
  }
  const text = await res.text()
  if (!res.ok) {
    let msg = text.trim()
    try { msg = JSON.parse(text).error || msg } catch { /* plain text error */ }
    throw new ApiError(res.status, friendly(res.status, msg.slice(0, 200)))
  }
  if (!text) return null
  try { return JSON.parse(text) } catch { return text }
}

export const get = (p) => api('GET', p)
export const post = (p, b, key) => api('POST', p, b ?? {}, key)
export const newIdempotencyKey = () => idempotencyKey()
export const patch = (p, b) => api('PATCH', p, b)
export const put = (p, b) => api('PUT', p, b)
export const del = (p) => api('DELETE', p)

export async function loadMe() {
  session.me = await get('/api/v1/me')
  return session.me
}

export function qs(params) {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue
    u.set(k, String(v))
  }
  const s = u.toString()
  return s ? '?' + s : ''
}
