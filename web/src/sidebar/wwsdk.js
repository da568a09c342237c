// The WeCom JS-SDK, behind a small adapter. Inside WeCom the page loads
// WeCom's script (the URL the server puts in <meta name="scrm-jssdk">,
// SCRM_WECOM_JSSDK_URL); the demo and the tests point it at the simulator's
// stand-in, which defines the same `ww` global. The rest of the page calls
// only this module.
import { get } from '../api.js'

let sdk = null

// loadSDK injects the configured script once and resolves to window.ww.
export function loadSDK() {
  if (sdk) return sdk
  sdk = new Promise((resolve, reject) => {
    if (window.ww) return resolve(window.ww)
    const src = document.querySelector('meta[name="scrm-jssdk"]')?.content || ''
    if (!src || src.startsWith('%')) return reject(new Error('未配置企业微信 JS-SDK'))
    const s = document.createElement('script')
    s.src = src
    s.async = true
    s.onload = () => (window.ww ? resolve(window.ww) : reject(new Error('企业微信 JS-SDK 加载异常')))
    s.onerror = () => reject(new Error('企业微信 JS-SDK 加载失败'))
    document.head.appendChild(s)
  })
  return sdk
}

// pageURL is what WeCom signs: the URL without its fragment.
export const pageURL = () => location.href.split('#')[0]

// The client APIs the sidebar uses; agentConfig (the app's signature) is
// what grants them.
const jsApiList = ['getContext', 'getCurExternalContact', 'getCurExternalChat', 'sendChatMessage']

let ready = null

// connect signs the page (GET /api/v1/jsapi/signature) and registers it
// with the SDK; sig may be a signature already fetched (the page asks for it
// while the script loads).
export function connect(sigPromise) {
  if (ready) return ready
  ready = Promise.all([loadSDK(), sigPromise || fetchSignature()]).then(([ww, sig]) => {
    ww.register({
      corpId: sig.corp_id,
      agentId: sig.agent_id,
      jsApiList,
      getConfigSignature: () => ({ timestamp: sig.timestamp, nonceStr: sig.nonce_str, signature: sig.signature }),
      getAgentConfigSignature: () => ({ timestamp: sig.timestamp, nonceStr: sig.nonce_str, signature: sig.agent_signature }),
    })
    return ww
  })
  return ready
}

// fetchSignature asks scrm to sign this page; refresh says WeCom refused
// the last signature, so scrm fetches its tickets again (once).
export function fetchSignature(refresh) {
  return get('/api/v1/jsapi/signature?url=' + encodeURIComponent(pageURL()) + (refresh ? '&refresh=1' : ''))
}

// reconnect registers again with a signature made from fresh tickets: WeCom
// may drop a ticket before its time.
export function reconnect() {
  ready = null
  return connect(fetchSignature(true))
}

// errText turns a JS-SDK failure ({errMsg}) into a sentence.
export function errText(e) {
  const m = (e && (e.errMsg || e.message)) || String(e)
  if (/no permission|permission denied|invalid signature/i.test(m)) return '企业微信未授权此页面（签名校验失败）'
  if (/not in a chat/i.test(m)) return '请在企业微信的聊天工具栏中打开此页面'
  return '企业微信接口调用失败：' + m
}

// currentChat answers where the page is open: {entry, externalUserId} for
// a customer (single chat, profile, 微信客服), {entry, chatId} for a group.
// The three calls go out together: each is a round trip to the client.
export async function currentChat() {
  const ww = await ready
  const [ctx, contact, chat] = await Promise.all([
    ww.getContext(),
    ww.getCurExternalContact().catch(() => null),
    ww.getCurExternalChat().catch(() => null),
  ])
  const entry = ctx.entry
  if (entry === 'group_chat_tools') {
    if (!chat?.chatId) throw new Error('未能取得当前客户群')
    return { entry, chatId: chat.chatId }
  }
  if (['single_chat_tools', 'contact_profile', 'single_kf_tools'].includes(entry)) {
    if (!contact?.userId) throw new Error('未能取得当前客户')
    return { entry, externalUserId: contact.userId }
  }
  return { entry }
}

// send puts text into the chat's input box; the salesperson still presses
// send.
export async function send(text) {
  const ww = await ready
  return ww.sendChatMessage({ msgtype: 'text', text: { content: text } })
}
