/* scrm's WeCom simulator: a stand-in for WeCom's JS-SDK (ww / wx).
 * Inside WeCom the client answers these calls; here the simulator does, for
 * the chat named by the page URL's ?wwsim= token (Simulator.OpenChatTools).
 * The API mirrors @wecom/jssdk 2.x: ww.register once, then promise-returning
 * calls that also take success/fail/complete callbacks. */
(function () {
  'use strict'
  var script = document.currentScript
  var base = script ? script.src.replace(/\/jssdk\/ww\.js.*$/, '') : ''
  var token = new URLSearchParams(location.search).get('wwsim') || ''
  var registered = null // Promise of the session

  function post(path, body) {
    return fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json() })
  }
  function call(fn, arg) { return fn ? Promise.resolve(fn(arg)) : Promise.resolve(null) }
  function settle(p, opts) {
    opts = opts || {}
    return p.then(function (res) {
      if (opts.success) opts.success(res)
      if (opts.complete) opts.complete(res)
      return res
    }, function (err) {
      if (opts.fail) opts.fail(err)
      if (opts.complete) opts.complete(err)
      throw err
    })
  }

  function register(opts) {
    var url = location.href.split('#')[0]
    registered = Promise.all([call(opts.getConfigSignature, url), call(opts.getAgentConfigSignature, url)])
      .then(function (sigs) {
        return post('/jssdk/register', {
          wwsim: token, url: url, corpId: String(opts.corpId || ''), agentId: String(opts.agentId || ''),
          config: sigs[0], agentConfig: sigs[1]
        })
      })
      .then(function (res) {
        if (res.errCode !== 0) {
          if (opts.onConfigFail) opts.onConfigFail(res)
          if (opts.onAgentConfigFail) opts.onAgentConfigFail(res)
          throw res
        }
        if (opts.onConfigSuccess) opts.onConfigSuccess(res)
        if (opts.onAgentConfigSuccess) opts.onAgentConfigSuccess(res)
        return res.session
      })
    registered.catch(function () {})
  }

  function invoke(api, args, opts) {
    if (!registered) return settle(Promise.reject({ errMsg: api + ':fail ww.register has not been called', errCode: -1 }), opts)
    var p = registered.then(function (session) {
      return post('/jssdk/invoke', { session: session, api: api, args: args || {} })
    }, function (err) {
      throw { errMsg: api + ':fail no permission (' + (err && err.errMsg) + ')', errCode: -1 }
    }).then(function (res) {
      if (res.errCode !== 0) throw res
      return res
    })
    return settle(p, opts)
  }

  var ww = {
    SDK_VERSION: 'scrm-sim',
    register: register,
    getContext: function (o) { return invoke('getContext', null, o) },
    getCurExternalContact: function (o) { return invoke('getCurExternalContact', null, o) },
    getCurExternalChat: function (o) { return invoke('getCurExternalChat', null, o) },
    sendChatMessage: function (o) {
      o = o || {}
      return invoke('sendChatMessage', { msgtype: o.msgtype, text: o.text }, o)
    }
  }
  // The jweixin 1.x style: wx.config + wx.agentConfig, then wx.invoke.
  var pending = {}
  var wx = {
    config: function (c) { pending.config = c },
    agentConfig: function (c) {
      register({
        corpId: c.corpid, agentId: c.agentid,
        getConfigSignature: function () { return pending.config && { timestamp: pending.config.timestamp, nonceStr: pending.config.nonceStr, signature: pending.config.signature } },
        getAgentConfigSignature: function () { return { timestamp: c.timestamp, nonceStr: c.nonceStr, signature: c.signature } },
        onAgentConfigSuccess: c.success, onAgentConfigFail: c.fail
      })
    },
    invoke: function (api, args, cb) {
      invoke(api, args).then(cb, cb)
    }
  }
  window.ww = ww
  window.wx = window.wx || wx
})()
