// scrm demo page: plain JavaScript, no build step, no external resources.
// It polls the demo API once a second and re-renders only what changed.
(function () {
  "use strict";

  var API = "/demo/api";
  var S = {
    state: null,
    customer: "",
    channel: "oa",
    staff: "",
    last: {},        // section -> last rendered JSON, to skip unchanged renders
    seenEntries: {}, // timeline entry ids already shown, to flash new ones
    busy: false,
    tz: "Asia/Shanghai",
  };

  function $(id) { return document.getElementById(id); }

  function esc(s) {
    return String(s == null ? "" : s)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function getJSON(path) {
    return fetch(API + path, { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(path + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function postJSON(path, body) {
    return fetch(API + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { throw new Error(j.error || ("HTTP " + r.status)); }
        return j;
      });
    });
  }

  // Times are shown in the business time zone, whatever the browser's.
  var fmtCache = {};
  function fmt(iso, withDay) {
    if (!iso) { return "—"; }
    var d = new Date(iso);
    var key = withDay ? "d" : "t";
    if (!fmtCache[key]) {
      var o = { timeZone: S.tz, hour: "2-digit", minute: "2-digit", hour12: false };
      if (withDay) { o.month = "2-digit"; o.day = "2-digit"; }
      try { fmtCache[key] = new Intl.DateTimeFormat("zh-CN", o); }
      catch (e) { delete o.timeZone; fmtCache[key] = new Intl.DateTimeFormat("zh-CN", o); }
    }
    return fmtCache[key].format(d);
  }
  function when(iso) {
    if (!iso) { return "—"; }
    var d = new Date(iso);
    var today = fmt(new Date().toISOString(), true).slice(0, 5);
    var day = fmt(iso, true);
    return day.slice(0, 5) === today ? "今天 " + fmt(iso, false) : day;
  }

  // WeCom app markdown, rendered simply: headings, bold, quotes, links,
  // <font color="info|comment|warning">, inline code.
  function md(src) {
    var out = [];
    String(src || "").split("\n").forEach(function (line) {
      var h = /^(#{1,6})\s+(.*)$/.exec(line);
      var q = /^>\s?(.*)$/.exec(line);
      if (h) { out.push("<h4>" + inline(h[2]) + "</h4>"); }
      else if (q) { out.push("<blockquote>" + inline(q[1]) + "</blockquote>"); }
      else if (line.trim() === "") { out.push("<br>"); }
      else { out.push("<div>" + inline(line) + "</div>"); }
    });
    return out.join("");
  }
  function inline(s) {
    s = esc(s);
    s = s.replace(/&lt;font color=&quot;(info|comment|warning)&quot;&gt;(.*?)&lt;\/font&gt;/g, '<span class="c-$1">$2</span>');
    s = s.replace(/\*\*(.+?)\*\*/g, "<b>$1</b>");
    s = s.replace(/`([^`]+)`/g, "<code>$1</code>");
    s = s.replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>');
    return s;
  }

  function changed(section, data) {
    var j = JSON.stringify(data);
    if (S.last[section] === j) { return false; }
    S.last[section] = j;
    return true;
  }

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 60; }

  // ---- state: staff, customers, seeding progress ----
  function loadState() {
    return getJSON("/state").then(function (st) {
      var first = !S.state;
      S.state = st;
      if (st.timezone) { S.tz = st.timezone; }
      $("company-name").textContent = st.company + "（模拟企业）";
      renderSeed(st.seed);
      if (first) {
        buildCustomers(st);
        buildStaff(st);
        var url = new URL(location.href);
        selectStaff(url.searchParams.get("staff") || (st.staff[1] || st.staff[0]).id);
        selectCustomer(url.searchParams.get("customer") || st.customers[0].key);
      }
      return st;
    });
  }

  function renderSeed(seed) {
    var box = $("seed");
    box.setAttribute("data-state", seed.state);
    var pct = seed.total ? Math.round(100 * seed.done / seed.total) : 0;
    $("seed-bar").style.width = (seed.state === "ready" ? 100 : pct) + "%";
    var label = {
      starting: "正在准备示例数据…",
      seeding: "正在通过回调导入示例数据 " + seed.done + " / " + seed.total,
      ready: "示例数据已就绪：" + seed.total + " 条回调",
      error: "示例数据导入出错：" + (seed.message || ""),
    }[seed.state] || seed.state;
    $("seed-label").textContent = label;
  }

  function buildCustomers(st) {
    var sel = $("customer-select");
    sel.innerHTML = "";
    st.staff.forEach(function (s) {
      var group = document.createElement("optgroup");
      group.label = s.name + "（" + s.title + "）的客户";
      st.customers.forEach(function (c) {
        if (c.owner !== s.id) { return; }
        var o = document.createElement("option");
        o.value = c.key;
        o.textContent = c.name + " · " + c.company;
        group.appendChild(o);
      });
      if (group.children.length) { sel.appendChild(group); }
    });
    sel.addEventListener("change", function () { selectCustomer(sel.value); });
  }

  function buildStaff(st) {
    var tabs = $("staff-tabs");
    tabs.innerHTML = "";
    st.staff.forEach(function (s) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "staff-tab" + (s.manager ? " manager" : "");
      b.id = "staff-tab-" + s.id;
      b.setAttribute("data-testid", "staff-tab-" + s.id);
      b.setAttribute("data-staff", s.id);
      b.setAttribute("role", "tab");
      b.innerHTML = '<span class="av">' + esc(s.initials) + "</span><span>" + esc(s.name) +
        "<small>" + esc(s.title) + "</small></span>";
      b.addEventListener("click", function () { selectStaff(s.id); });
      tabs.appendChild(b);
    });
  }

  function person(key) {
    var cs = (S.state && S.state.customers) || [];
    for (var i = 0; i < cs.length; i++) { if (cs[i].key === key) { return cs[i]; } }
    return null;
  }
  function staffMember(id) {
    var ss = (S.state && S.state.staff) || [];
    for (var i = 0; i < ss.length; i++) { if (ss[i].id === id) { return ss[i]; } }
    return null;
  }

  function selectCustomer(key) {
    var p = person(key);
    if (!p) { return; }
    S.customer = key;
    $("customer-select").value = key;
    setChannel(p.channel || "oa");
    $("phone-who").textContent = p.name;
    delete S.last.record;
    S.seenEntries = {};
    S.freshReady = false;
    renderStaffChips();
    loadSidebar(key);
    refresh();
  }

  // The chat sidebar beside the owner's WeCom chat with this customer.
  function loadSidebar(key) {
    getJSON("/customers/" + encodeURIComponent(key) + "/sidebar").then(function (r) {
      if (S.customer !== key) { return; }
      var none = !r.url;
      $("sidebar-empty").hidden = !none;
      $("sidebar-frame").hidden = none;
      var owner = staffMember(r.staff);
      $("sidebar-who").textContent = owner ? owner.name : "—";
      if (!none) { $("sidebar-frame").src = r.url; }
    }).catch(function (e) { console.warn(e); });
  }

  function setChannel(ch) {
    S.channel = ch;
    ["oa", "kf"].forEach(function (c) { $("channel-" + c).classList.toggle("on", c === ch); });
    $("phone-title").textContent = ch === "kf" ? "微信客服 · " + S.state.company : S.state.company + " · 公众号";
    delete S.last.phone;
    refresh();
  }

  function selectStaff(id) {
    var s = staffMember(id);
    if (!s) { return; }
    S.staff = id;
    document.querySelectorAll(".staff-tab").forEach(function (b) {
      b.classList.toggle("on", b.getAttribute("data-staff") === id);
    });
    $("wecom-who").textContent = s.name + " · " + s.title;
    $("feed-title").textContent = s.manager ? "团队客户 · 最新消息" : "我负责的客户 · 最新消息";
    delete S.last.chat;
    delete S.last.feed;
    renderStaffChips();
    refresh();
  }

  function renderStaffChips() {
    var p = person(S.customer);
    var name = p ? p.name : "刘洋";
    var says = ["帮助", "我的客户", "查 " + name, "记 " + name + " 已电话沟通，下周二回访"];
    $("staff-chips").innerHTML = says.map(function (t) {
      return '<button type="button" class="chip" data-say="' + esc(t) + '">' + esc(t) + "</button>";
    }).join("");
  }

  // ---- (a) phone ----
  function renderPhone(data) {
    if (!changed("phone", data)) { return; }
    var box = $("phone-msgs");
    var stick = nearBottom(box);
    var msgs = data.messages || [];
    if (!msgs.length) {
      box.innerHTML = '<p class="empty">还没有消息，在下方输入一条试试</p>';
      return;
    }
    var p = person(S.customer) || { name: "" };
    box.innerHTML = msgs.map(function (m) {
      var me = m.from === "me";
      var st = m.status === "failed" ? '<span class="status-fail">发送失败：' + esc(m.detail || "") + "</span>" :
        m.status === "pending" ? "发送中…" : (me ? "已送达 scrm ✓" : "");
      return '<div class="msg ' + (me ? "me" : "company") + '" data-testid="phone-msg" data-from="' + esc(m.from) + '">' +
        '<span class="av">' + esc(me ? p.name.slice(0, 1) : "企") + "</span>" +
        '<div><div class="bubble">' + esc(m.text) + '</div><span class="meta">' + when(m.at) + " " + st + "</span></div></div>";
    }).join("");
    if (stick) { box.scrollTop = box.scrollHeight; }
  }

  // ---- (b) WeCom chat with the bot ----
  function renderChat(data) {
    if (!changed("chat", data)) { return; }
    var box = $("bot-chat");
    var stick = nearBottom(box);
    var msgs = data.messages || [];
    if (!msgs.length) {
      box.innerHTML = '<p class="empty">发送“帮助”看看 scrm 助手能做什么</p>';
      return;
    }
    var s = staffMember(S.staff) || { initials: "我" };
    box.innerHTML = msgs.map(function (m) {
      var me = m.from === "me";
      var body;
      if (me) {
        body = '<div class="bubble">' + esc(m.text) + "</div>";
      } else if (m.kind === "textcard" || m.kind === "template_card" || m.kind === "news") {
        body = '<div class="bcard" data-testid="bot-card"><span class="tag">' + esc(m.kind === "template_card" ? "提醒" : "通知") + "</span>" +
          "<h4>" + esc(m.title || "") + "</h4>" + (m.description ? "<p>" + esc(m.description) + "</p>" : "") +
          ((m.buttons && m.buttons.length) ? '<div class="btns">' + m.buttons.map(function (b, i) {
            return '<button type="button" class="' + (i === 0 ? "primary" : "") + '" data-card-task="' + esc(m.task_id || "") +
              '" data-card-key="' + esc(b.key || "") + '" data-card-type="' + esc(m.card_type || "") + '">' + esc(b.text) + "</button>";
          }).join("") + "</div>" : "") +
          (m.url ? '<a href="' + esc(m.url) + '" target="_blank" rel="noopener">详情</a>' : "") + "</div>";
      } else if (m.kind === "markdown") {
        body = '<div class="bubble md">' + md(m.text) + "</div>";
      } else {
        body = '<div class="bubble">' + esc(m.text) + "</div>";
      }
      var st = m.status === "failed" ? ' <span class="status-fail">发送失败：' + esc(m.detail || "") + "</span>" : "";
      return '<div class="msg ' + (me ? "me" : "bot") + '" data-testid="bot-msg" data-from="' + esc(m.from) + '">' +
        '<span class="av">' + esc(me ? s.initials : "助") + "</span><div>" + body +
        '<span class="meta">' + when(m.at) + st + "</span></div></div>";
    }).join("");
    if (stick) { box.scrollTop = box.scrollHeight; }
  }

  function renderFeed(data) {
    if (!changed("feed", data)) { return; }
    var items = data.items || [];
    $("staff-feed").innerHTML = items.length ? items.map(function (it) {
      return '<li data-testid="feed-item" data-customer="' + esc(it.key) + '">' +
        '<span class="who">' + pill(it.channel) + esc(it.name) + '<span class="when">' + when(it.at) + "</span></span>" +
        '<span class="text">' + esc(it.text) + "</span></li>";
    }).join("") : '<li class="empty">暂无客户消息</li>';
  }

  // The salesperson's mass messages in their WeCom app: each awaits 发送.
  function renderGroupMsgs(data) {
    if (!changed("groupmsgs", data)) { return; }
    var items = data.items || [];
    $("groupmsgs").innerHTML = items.length ? items.map(function (m) {
      var who = m.recipients.slice(0, 6).join("、") + (m.recipients.length > 6 ? " 等 " + m.recipients.length + " 位" : "");
      return '<li data-testid="groupmsg"><div class="gm-text">' + esc(m.text) + '</div>' +
        '<div class="muted">发给 ' + esc(who) + ' · ' + esc(when(m.created_at)) + '</div>' +
        (m.sent ? '<span class="gm-sent" data-testid="groupmsg-sent">已发送</span>'
          : '<button type="button" class="btn-green" data-testid="groupmsg-send" data-groupmsg="' + esc(m.msgid) + '">发送</button>') +
        '</li>';
    }).join("") : '<li class="empty">暂无待发送的群发。管理后台「群发」里创建后会出现在这里。</li>';
  }

  function pill(ch) {
    if (ch === "kf") { return '<span class="pill p-kf">微信客服</span>'; }
    if (ch === "oa") { return '<span class="pill">公众号</span>'; }
    if (ch === "wecom") { return '<span class="pill p-wecom">企业微信</span>'; }
    return "";
  }

  // ---- (c) the customer's record ----
  function renderRecord(data) {
    if (!changed("record", data)) { return; }
    var p = data.person;
    var c = data.card;
    var html;
    if (!c) {
      html = '<div class="card-head"><span class="big-av">' + esc(p.name.slice(0, 1)) + "</span><div><h3>" + esc(p.name) +
        "</h3><p>" + esc(p.company + " · " + p.position) + '</p></div></div><p class="note" data-testid="card-empty">' +
        "scrm 里还没有这位客户的档案：回调处理后会自动出现。</p>";
    } else {
      var stageClass = { "已成交": "s-won", "沉睡": "s-dormant", "流失": "s-lost" }[c.stage] || "";
      html = '<div class="card-head"><span class="big-av">' + esc((c.name || p.name).slice(0, 1)) + "</span><div>" +
        '<h3 data-testid="card-name">' + esc(c.name || p.name) + "</h3>" +
        "<p>" + esc(p.company + " · " + p.position) + "</p></div>" +
        '<span class="stage ' + stageClass + '" data-testid="card-stage">' + esc(c.stage || "未设阶段") + "</span></div>" +
        '<dl class="kv">' +
        '<dt>负责人</dt><dd data-testid="card-owner">' + esc((c.owners || []).join("、") || "—") + "</dd>" +
        '<dt>标签</dt><dd class="tags" data-testid="card-tags">' + ((c.tags && c.tags.length) ? c.tags.map(function (t) {
          return "<span>" + esc(t) + "</span>";
        }).join("") : '<span class="none">—</span>') + "</dd>" +
        (c.tier ? "<dt>价值分层</dt><dd>" + esc(c.tier) + "</dd>" : "") +
        '<dt>最近来信</dt><dd data-testid="card-last-msg">' + when(c.last_customer_msg_at) + "</dd>" +
        "<dt>最近跟进</dt><dd>" + when(c.last_staff_touch_at) + "</dd>" +
        (c.summary ? '<dt>摘要</dt><dd data-testid="card-summary">' + esc(c.summary) + "</dd>" : "") +
        (c.sentiment ? '<dt>情绪</dt><dd data-testid="card-sentiment" class="' + sentimentClass(c.sentiment) + '">' + esc(c.sentiment) + "</dd>" : "") +
        "<dt>身份</dt><dd class=\"ids\">" + (c.identities || []).map(function (i) {
          return esc(i.kind) + ": " + esc(i.value);
        }).join("<br>") + "</dd></dl>" +
        (data.records > 1 ? '<p class="note">这位客户在 scrm 中有 ' + data.records +
          " 份档案（不同渠道的身份尚未合并），下方时间线已合并显示。</p>" : "");
    }
    $("customer-card").innerHTML = html;

    var tl = data.timeline || [];
    $("timeline-count").textContent = tl.length ? "（" + tl.length + " 条）" : "";
    $("timeline").innerHTML = tl.length ? tl.map(function (e) {
      var fresh = S.freshReady && !S.seenEntries[e.id];
      S.seenEntries[e.id] = true;
      return '<li data-testid="timeline-entry" data-kind="' + esc(e.kind) + '" class="k-' + esc(e.kind) + " " + esc(e.direction || "") +
        (fresh ? " fresh" : "") + '"><div class="t-head">' + when(e.at) + " · " + pill(e.channel) + esc(entryLabel(e)) +
        '</div><div class="t-text">' + esc(e.text || "") + "</div></li>";
    }).join("") : '<li class="empty">暂无记录</li>';
    S.freshReady = true;
  }

  function sentimentClass(s) {
    if (/负|不满|消极|negative/i.test(s)) { return "sentiment-neg"; }
    if (/正|满意|积极|positive/i.test(s)) { return "sentiment-pos"; }
    return "";
  }

  function entryLabel(e) {
    switch (e.kind) {
      case "message": return e.direction === "out" ? "我方消息" + (e.staff_name ? "（" + e.staff_name + "）" : "") : "客户消息";
      case "note": return "跟进备注" + (e.staff_name ? "（" + e.staff_name + "）" : "");
      case "event": return "事件";
      case "stage": return "阶段变化";
      case "reminder": return "提醒";
      case "analysis": return "智能分析";
    }
    return e.kind;
  }

  // ---- activity and stats ----
  function renderActivity(data) {
    if (!changed("activity", data)) { return; }
    var items = data.items || [];
    $("activity").innerHTML = items.length ? items.map(function (a) {
      var cls = a.status === "failed" ? "err" : a.dir;
      return '<li data-testid="activity-item"><span class="at">' + fmt(a.at, false) + '</span><span class="dir ' + cls + '">' +
        esc(a.dir === "in" ? "平台 → scrm" : "scrm → 平台") + '</span><span class="sum">' + esc(a.summary) + "</span></li>";
    }).join("") : '<li class="empty">暂无</li>';
  }

  function renderStats(st) {
    [["events", st.events], ["messages", st.messages], ["customers", st.customers], ["sent", st.bot_sent]].forEach(function (kv) {
      var el = $("stat-" + kv[0]);
      var v = String(kv[1] == null ? "–" : kv[1]);
      if (el.textContent !== v) {
        el.textContent = v;
        el.parentNode.classList.add("bump");
        setTimeout(function () { el.parentNode.classList.remove("bump"); }, 600);
      }
    });
  }

  // ---- (d) channels: 扫码添加 ----
  function renderChannels(data) {
    if (!changed("channels", data)) { return; }
    var chs = data.channels || [];
    $("channel-list").innerHTML = chs.length ? chs.map(function (c) {
      return '<div class="channel-card" data-testid="channel-card">' +
        (c.qr_code ? '<img alt="' + esc(c.name) + ' 二维码" src="' + esc(c.qr_code) + '">' : "") +
        '<div class="info"><b>' + esc(c.name) + "</b>" +
        "<span>接待：" + esc((c.staff || []).join("、")) + "</span>" +
        "<span>标签：" + esc((c.tags || []).join("、") || "—") + "</span>" +
        '<span class="welcome">欢迎语：' + esc(c.welcome || "—") + "</span>" +
        '<button type="button" class="btn-green" data-testid="scan-button" data-scan="' + esc(c.id) + '">扫码添加</button></div></div>';
    }).join("") : '<p class="empty">暂无渠道活码</p>';
    var scans = (data.scans || []).slice().reverse();
    var box = $("scan-msgs");
    box.innerHTML = scans.length ? scans.map(function (s) {
      var out = '<p class="sys">' + esc(s.name) + " 通过「" + esc(s.channel) + "」添加了 " + esc(s.staff_name) + " · " + when(s.at) + "</p>";
      if (s.status === "failed") {
        return out + '<p class="sys status-fail">回调失败：' + esc(s.detail || "") + "</p>";
      }
      if (s.welcome) {
        out += '<div class="msg company" data-testid="scan-welcome"><span class="av">' + esc((s.staff_name || "企").slice(0, 1)) + "</span>" +
          '<div><div class="bubble">' + esc(s.welcome) + '</div><span class="meta">' + when(s.welcome_at) + " 欢迎语</span></div></div>";
      } else {
        out += '<p class="sys">等待欢迎语…</p>';
      }
      return out;
    }).join("") : '<p class="empty">点“扫码添加”，模拟一位新客户扫码</p>';
    box.scrollTop = box.scrollHeight;
  }

  // ---- polling ----
  function refresh() {
    if (S.busy || !S.state || !S.customer || !S.staff) { return Promise.resolve(); }
    S.busy = true;
    var ck = encodeURIComponent(S.customer), sk = encodeURIComponent(S.staff);
    var jobs = [
      getJSON("/stats").then(renderStats),
      getJSON("/customers/" + ck + "/phone?channel=" + S.channel).then(renderPhone),
      getJSON("/customers/" + ck).then(renderRecord),
      getJSON("/staff/" + sk + "/chat").then(renderChat),
      getJSON("/staff/" + sk + "/feed").then(renderFeed),
      getJSON("/staff/" + sk + "/groupmsgs").then(renderGroupMsgs),
      getJSON("/activity").then(renderActivity),
      getJSON("/channels").then(renderChannels),
    ];
    if (S.state.seed.state !== "ready") { jobs.push(loadState()); }
    return Promise.all(jobs.map(function (p) {
      return p.catch(function (e) { console.warn(e); });
    })).then(function () { S.busy = false; });
  }

  function send(form, input, button, path, body, section) {
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    button.disabled = true;
    body.text = text;
    postJSON(path, body).then(function () {
      input.value = "";
      delete S.last[section];
    }).catch(function (e) {
      alert("发送失败：" + e.message);
    }).then(function () {
      button.disabled = false;
      // Refocus only if the visitor has not moved on to another field while
      // the callback was in flight.
      var a = document.activeElement;
      if (!a || a === document.body || a === button || a === input) { input.focus(); }
      var wait = function () { return S.busy ? new Promise(function (r) { setTimeout(r, 50); }).then(wait) : refresh(); };
      return wait().then(function () {
        var box = section === "phone" ? $("phone-msgs") : $("bot-chat");
        box.scrollTop = box.scrollHeight;
      });
    });
  }

  function wire() {
    $("channel-oa").addEventListener("click", function () { setChannel("oa"); });
    $("channel-kf").addEventListener("click", function () { setChannel("kf"); });
    $("customer-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      send(ev.target, $("customer-input"), $("customer-send"),
        "/customers/" + encodeURIComponent(S.customer) + "/messages", { channel: S.channel }, "phone");
    });
    $("staff-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      send(ev.target, $("staff-input"), $("staff-send"),
        "/staff/" + encodeURIComponent(S.staff) + "/messages", {}, "chat");
    });
    $("customer-chips").addEventListener("click", function (ev) {
      var t = ev.target.getAttribute("data-say");
      if (t) { $("customer-input").value = t; $("customer-input").focus(); }
    });
    $("staff-chips").addEventListener("click", function (ev) {
      var t = ev.target.getAttribute("data-say");
      if (t) { $("staff-input").value = t; $("staff-input").focus(); }
    });
    $("staff-feed").addEventListener("click", function (ev) {
      var li = ev.target.closest("li[data-customer]");
      if (li) { selectCustomer(li.getAttribute("data-customer")); }
    });
    $("groupmsgs").addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-groupmsg]");
      if (!b) { return; }
      b.disabled = true;
      postJSON("/staff/" + encodeURIComponent(S.staff) + "/groupmsgs/" + encodeURIComponent(b.getAttribute("data-groupmsg")) + "/send", {})
        .catch(function (e) { alert("发送失败：" + e.message); })
        .then(function () { delete S.last.groupmsgs; refresh(); });
    });
    $("channel-list").addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-scan]");
      if (!b) { return; }
      b.disabled = true;
      postJSON("/channels/" + encodeURIComponent(b.getAttribute("data-scan")) + "/scan", {})
        .catch(function (e) { alert("扫码失败：" + e.message); })
        .then(function () { b.disabled = false; delete S.last.channels; refresh(); });
    });
    $("bot-chat").addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-card-key]");
      if (!b) { return; }
      b.disabled = true;
      postJSON("/staff/" + encodeURIComponent(S.staff) + "/card-event", {
        task_id: b.getAttribute("data-card-task"),
        key: b.getAttribute("data-card-key"),
        card_type: b.getAttribute("data-card-type"),
      }).catch(function (e) { alert("操作失败：" + e.message); }).then(function () { refresh(); });
    });
  }

  function start() {
    wire();
    var boot = function () {
      loadState().then(function () {
        refresh();
        setInterval(refresh, 1000);
      }).catch(function (e) {
        $("seed-label").textContent = "连接 scrm 失败，重试中…";
        console.warn(e);
        setTimeout(boot, 1000);
      });
    };
    boot();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
