package wecomtest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

var t0 = time.Date(2025, 3, 5, 10, 30, 0, 0, time.UTC)

func TestBuildersParseAsTheirKind(t *testing.T) {
	d, err := wecomtest.NewDriver(wecomtest.DriverConfig{URL: "http://unused", Token: wecomtest.SimToken,
		AESKey: wecomtest.SimAESKey, CorpID: wecomtest.SimCorpID, AgentID: wecomtest.SimAgentID, OAToken: wecomtest.SimOAToken})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		kind, from, staff, customer, text, msgID string
		attrs                                    map[string]string
	}
	for _, tc := range []struct {
		name string
		oa   bool
		msg  wecomtest.Msg
		want want
	}{
		{"app text", false, wecomtest.AppText("zhangsan", "王总说下周三再联系", 7382049153846211501, t0),
			want{kind: "text", from: "zhangsan", staff: "zhangsan", text: "王总说下周三再联系", msgID: "7382049153846211501",
				attrs: map[string]string{"AgentID": wecomtest.SimAgentID}}},
		{"app image", false, wecomtest.AppImage("zhangsan", "http://p/1.jpg", "media1", 2, t0),
			want{kind: "image", from: "zhangsan", staff: "zhangsan", text: "[图片]", msgID: "2", attrs: map[string]string{"MediaId": "media1"}}},
		{"app voice", false, wecomtest.AppVoice("zhangsan", "media2", "amr", 3, t0),
			want{kind: "voice", from: "zhangsan", staff: "zhangsan", text: "[语音]", msgID: "3", attrs: map[string]string{"Format": "amr"}}},
		{"app location", false, wecomtest.AppLocation("zhangsan", 31.2304, 121.4737, 15, "上海市人民广场", 4, t0),
			want{kind: "location", from: "zhangsan", staff: "zhangsan", text: "[位置] 上海市人民广场", msgID: "4",
				attrs: map[string]string{"Location_X": "31.2304", "Location_Y": "121.4737", "Scale": "15"}}},
		{"app link", false, wecomtest.AppLink("zhangsan", "报价单", "2025 版", "https://e.com/q", "https://e.com/p.png", 5, t0),
			want{kind: "link", from: "zhangsan", staff: "zhangsan", text: "[链接] 报价单 https://e.com/q", msgID: "5"}},
		{"enter_agent", false, wecomtest.AppEnterAgent("zhangsan", t0),
			want{kind: "event.enter_agent", from: "zhangsan", staff: "zhangsan"}},
		{"click", false, wecomtest.AppClick("zhangsan", "my_customers", t0),
			want{kind: "event.click", from: "zhangsan", staff: "zhangsan", attrs: map[string]string{"EventKey": "my_customers"}}},
		{"view", false, wecomtest.AppView("zhangsan", "https://e.com/crm", t0),
			want{kind: "event.view", from: "zhangsan", staff: "zhangsan", attrs: map[string]string{"EventKey": "https://e.com/crm"}}},
		{"template_card_event", false,
			wecomtest.TemplateCardEvent("zhangsan", "rem-42", "button_interaction", "reminder_done", "rc1", t0).
				WithSelectedItems("next_step", "call", "visit"),
			want{kind: "event.template_card_event", from: "zhangsan", staff: "zhangsan",
				attrs: map[string]string{"TaskId": "rem-42", "CardType": "button_interaction", "EventKey": "reminder_done",
					"ResponseCode": "rc1", "SelectedItems": "next_step:call,visit"}}},
		{"add_external_contact", false,
			wecomtest.ContactEvent("add_external_contact", "zhangsan", "wmA", t0, map[string]string{"State": "expo", "WelcomeCode": "WC1"}),
			want{kind: "event.change_external_contact.add_external_contact", from: "sys", staff: "zhangsan", customer: "wmA",
				attrs: map[string]string{"State": "expo", "WelcomeCode": "WC1"}}},
		{"edit_external_contact", false, wecomtest.ContactEvent("edit_external_contact", "zhangsan", "wmA", t0, nil),
			want{kind: "event.change_external_contact.edit_external_contact", from: "sys", staff: "zhangsan", customer: "wmA"}},
		{"add_half_external_contact", false, wecomtest.ContactEvent("add_half_external_contact", "zhangsan", "wmA", t0, nil),
			want{kind: "event.change_external_contact.add_half_external_contact", from: "sys", staff: "zhangsan", customer: "wmA"}},
		{"del_external_contact", false,
			wecomtest.ContactEvent("del_external_contact", "zhangsan", "wmA", t0, map[string]string{"Source": "DELETE_BY_TRANSFER"}),
			want{kind: "event.change_external_contact.del_external_contact", from: "sys", staff: "zhangsan", customer: "wmA",
				attrs: map[string]string{"Source": "DELETE_BY_TRANSFER"}}},
		{"del_follow_user", false, wecomtest.ContactEvent("del_follow_user", "zhangsan", "wmA", t0, nil),
			want{kind: "event.change_external_contact.del_follow_user", from: "sys", staff: "zhangsan", customer: "wmA"}},
		{"transfer_fail", false,
			wecomtest.ContactEvent("transfer_fail", "zhangsan", "wmA", t0, map[string]string{"FailReason": "customer_refused"}),
			want{kind: "event.change_external_contact.transfer_fail", from: "sys", staff: "zhangsan", customer: "wmA",
				attrs: map[string]string{"FailReason": "customer_refused"}}},
		{"chat create", false, wecomtest.ExternalChatEvent("create", "wrChat1", t0, nil),
			want{kind: "event.change_external_chat.create", from: "sys", attrs: map[string]string{"ChatId": "wrChat1"}}},
		{"chat update", false, wecomtest.ExternalChatEvent("update", "wrChat1", t0, map[string]string{
			"UpdateDetail": "add_member", "JoinScene": "3", "MemChangeCnt": "2", "MemChangeList": "wmA,lisi"}),
			want{kind: "event.change_external_chat.update", from: "sys", attrs: map[string]string{
				"UpdateDetail": "add_member", "JoinScene": "3", "MemChangeCnt": "2", "MemChangeList": "wmA,lisi"}}},
		{"chat dismiss", false, wecomtest.ExternalChatEvent("dismiss", "wrChat1", t0, nil),
			want{kind: "event.change_external_chat.dismiss", from: "sys"}},
		{"tag create", false, wecomtest.ExternalTagEvent("create", "etTag1", "tag", t0, nil),
			want{kind: "event.change_external_tag.create", from: "sys", attrs: map[string]string{"Id": "etTag1", "TagType": "tag"}}},
		{"tag update", false, wecomtest.ExternalTagEvent("update", "etTag1", "tag", t0, nil),
			want{kind: "event.change_external_tag.update", from: "sys"}},
		{"tag delete", false, wecomtest.ExternalTagEvent("delete", "etGrp1", "tag_group", t0, nil),
			want{kind: "event.change_external_tag.delete", from: "sys", attrs: map[string]string{"TagType": "tag_group"}}},
		{"tag shuffle", false, wecomtest.ExternalTagEvent("shuffle", "etGrp1", "tag_group", t0, map[string]string{"StrategyId": "1"}),
			want{kind: "event.change_external_tag.shuffle", from: "sys", attrs: map[string]string{"StrategyId": "1"}}},
		{"kf_msg_or_event", false, wecomtest.KFEvent("ENCtoken1", "wkA", t0),
			want{kind: "event.kf_msg_or_event", attrs: map[string]string{"Token": "ENCtoken1", "OpenKfId": "wkA"}}},
		{"oa text", true, wecomtest.OAText("oA", "有优惠吗？", 9, t0),
			want{kind: "text", from: "oA", customer: "oA", text: "有优惠吗？", msgID: "9"}},
		{"oa image", true, wecomtest.OAImage("oA", "http://p/2.jpg", "m3", 10, t0),
			want{kind: "image", from: "oA", customer: "oA", text: "[图片]", msgID: "10"}},
		{"oa voice", true, wecomtest.OAVoice("oA", "m4", "amr", "你好", 11, t0),
			want{kind: "voice", from: "oA", customer: "oA", text: "[语音] 你好", msgID: "11"}},
		{"oa location", true, wecomtest.OALocation("oA", 39.9, 116.4, 20, "北京", 12, t0),
			want{kind: "location", from: "oA", customer: "oA", text: "[位置] 北京", msgID: "12"}},
		{"oa link", true, wecomtest.OALink("oA", "文章", "描述", "https://e.com/a", 13, t0),
			want{kind: "link", from: "oA", customer: "oA", text: "[链接] 文章 https://e.com/a", msgID: "13"}},
		{"oa subscribe", true, wecomtest.OASubscribe("oA", t0), want{kind: "event.subscribe", from: "oA", customer: "oA"}},
		{"oa subscribe by QR", true, wecomtest.OASubscribeQR("oA", "expo", "tk", t0),
			want{kind: "event.subscribe", from: "oA", customer: "oA", attrs: map[string]string{"EventKey": "qrscene_expo", "Ticket": "tk"}}},
		{"oa unsubscribe", true, wecomtest.OAUnsubscribe("oA", t0), want{kind: "event.unsubscribe", from: "oA", customer: "oA"}},
		{"oa SCAN", true, wecomtest.OAScan("oA", "expo", "tk", t0),
			want{kind: "event.scan", from: "oA", customer: "oA", attrs: map[string]string{"EventKey": "expo"}}},
		{"oa CLICK", true, wecomtest.OAClick("oA", "contact_sales", t0),
			want{kind: "event.click", from: "oA", customer: "oA", attrs: map[string]string{"EventKey": "contact_sales"}}},
		{"oa VIEW", true, wecomtest.OAView("oA", "https://e.com", t0),
			want{kind: "event.view", from: "oA", customer: "oA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev *wecom.Event
			var err error
			if tc.oa {
				ev, err = wecom.ParseOA(d.OAXML(tc.msg))
				if err == nil && ev.ToID != wecomtest.SimOAOriginalID {
					t.Errorf("ToID = %q", ev.ToID)
				}
			} else {
				ev, err = wecom.ParseWeCom(d.WeComXML(tc.msg))
				if err == nil && ev.ToID != wecomtest.SimCorpID {
					t.Errorf("ToID = %q", ev.ToID)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if ev.Kind != w.kind || ev.FromID != w.from || ev.StaffID != w.staff || ev.CustomerID != w.customer ||
				ev.Text != w.text || ev.MsgID != w.msgID {
				t.Errorf("parsed kind=%q from=%q staff=%q customer=%q text=%q msgid=%q\nwant %+v",
					ev.Kind, ev.FromID, ev.StaffID, ev.CustomerID, ev.Text, ev.MsgID, w)
			}
			if !ev.CreateTime.Equal(t0) {
				t.Errorf("CreateTime = %v", ev.CreateTime)
			}
			for k, v := range w.attrs {
				if ev.Attrs[k] != v {
					t.Errorf("Attrs[%s] = %q, want %q", k, ev.Attrs[k], v)
				}
			}
		})
	}
}

// recorder is a callback endpoint that opens every request with the given
// check and answers according to respond.
type recorder struct {
	mu      sync.Mutex
	urls    []string
	bodies  [][]byte
	plains  [][]byte
	respond func(attempt int, w http.ResponseWriter)
	open    func(r *http.Request, body []byte) ([]byte, error)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	plain, err := rc.open(r, body)
	rc.mu.Lock()
	rc.urls = append(rc.urls, r.URL.RawQuery)
	rc.bodies = append(rc.bodies, body)
	rc.plains = append(rc.plains, plain)
	n := len(rc.urls)
	rc.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if rc.respond != nil {
		rc.respond(n, w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func openWeCom(c *wecom.Crypto) func(*http.Request, []byte) ([]byte, error) {
	return func(r *http.Request, body []byte) ([]byte, error) {
		q := r.URL.Query()
		return c.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
	}
}

// The driver's output opens with the official test-vector keys, both with
// wecom.Crypto and with the SDK's independent implementation.
func TestDriverRoundTripsWithOfficialVectorKeys(t *testing.T) {
	const token, key, corp = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
	c, err := wecom.NewCrypto(token, key, corp)
	if err != nil {
		t.Fatal(err)
	}
	var sdkPlain []byte
	rc := &recorder{open: func(r *http.Request, body []byte) ([]byte, error) {
		q := r.URL.Query()
		enc, err := wecom.OpenEnvelope(body)
		if err != nil {
			return nil, err
		}
		if util.Signature(token, q.Get("timestamp"), q.Get("nonce"), enc) != q.Get("msg_signature") {
			t.Error("SDK signature differs from msg_signature")
		}
		_, sdkPlain, err = util.DecryptMsg(corp, enc, key)
		if err != nil {
			t.Errorf("SDK decrypt: %v", err)
		}
		return c.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d, err := wecomtest.NewDriver(wecomtest.DriverConfig{URL: srv.URL + "/callback/wecom", Token: token, AESKey: key, CorpID: corp, AgentID: "218"})
	if err != nil {
		t.Fatal(err)
	}
	msg := wecomtest.AppText("zhangsan", "你好 <b>&amp; ]]> 结束", 1234567890123456, t0)
	del, err := d.SendWeCom(t.Context(), msg)
	if err != nil || del.Attempts != 1 || del.Status != 200 {
		t.Fatalf("delivery %+v, %v", del, err)
	}
	want := d.WeComXML(msg)
	if !bytes.Equal(rc.plains[0], want) || !bytes.Equal(sdkPlain, want) {
		t.Errorf("plaintext mismatch:\n got %s\n sdk %s\nwant %s", rc.plains[0], sdkPlain, want)
	}
	ev, err := wecom.ParseWeCom(rc.plains[0])
	if err != nil || ev.Text != "你好 <b>&amp; ]]> 结束" {
		t.Errorf("parsed text = %q, %v", ev.Text, err)
	}
}

func TestDriverOAModes(t *testing.T) {
	for _, safe := range []bool{false, true} {
		name := "plaintext"
		if safe {
			name = "safe mode"
		}
		t.Run(name, func(t *testing.T) {
			oc, err := wecom.NewCrypto(wecomtest.SimOAToken, wecomtest.SimOAAESKey, wecomtest.SimOAAppID)
			if err != nil {
				t.Fatal(err)
			}
			rc := &recorder{open: func(r *http.Request, body []byte) ([]byte, error) {
				q := r.URL.Query()
				if !wecom.VerifyOASignature(wecomtest.SimOAToken, q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
					t.Error("bad OA signature")
				}
				if q.Get("openid") != "oA" {
					t.Errorf("openid = %q", q.Get("openid"))
				}
				if !safe {
					if q.Has("encrypt_type") || q.Has("msg_signature") {
						t.Error("plaintext mode sent encryption parameters")
					}
					return body, nil
				}
				if q.Get("encrypt_type") != "aes" {
					t.Errorf("encrypt_type = %q", q.Get("encrypt_type"))
				}
				return oc.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
			}, respond: func(_ int, w http.ResponseWriter) { _, _ = io.WriteString(w, "success") }}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			d, err := wecomtest.NewDriver(wecomtest.DriverConfig{OAURL: srv.URL, OAAppID: wecomtest.SimOAAppID,
				OAToken: wecomtest.SimOAToken, OAAESKey: wecomtest.SimOAAESKey, OASafeMode: safe})
			if err != nil {
				t.Fatal(err)
			}
			msg := wecomtest.OAText("oA", "在吗", 42, t0)
			del, err := d.SendOA(t.Context(), msg)
			if err != nil || string(del.Reply) != "success" {
				t.Fatalf("delivery %+v, %v", del, err)
			}
			if !bytes.Equal(rc.plains[0], d.OAXML(msg)) {
				t.Errorf("server read %s", rc.plains[0])
			}
			if safe == bytes.Contains(rc.bodies[0], []byte("在吗")) {
				t.Errorf("body encryption does not match the mode: %s", rc.bodies[0])
			}
		})
	}
}

func TestDriverRetriesLikeWeChat(t *testing.T) {
	wc, err := wecom.NewCrypto(wecomtest.SimToken, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		retries  int
		respond  func(attempt int, w http.ResponseWriter)
		attempts int
		ok       bool
	}{
		{"acknowledged at once", 0, nil, 1, true},
		{"500 twice then 200", 0, func(n int, w http.ResponseWriter) {
			if n <= 2 {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}, 3, true},
		{"timeout then 200", 0, func(n int, w http.ResponseWriter) {
			if n == 1 {
				time.Sleep(300 * time.Millisecond)
			}
		}, 2, true},
		{"any non-200 is a failure", 0, func(n int, w http.ResponseWriter) {
			if n == 1 {
				w.WriteHeader(http.StatusNotFound)
			}
		}, 2, true},
		{"never acknowledged: 1 + 3 retries", 0, func(_ int, w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, 4, false},
		{"retries disabled", -1, func(_ int, w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
		}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recorder{open: openWeCom(wc), respond: tc.respond}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			d, err := wecomtest.NewDriver(wecomtest.DriverConfig{URL: srv.URL, Token: wecomtest.SimToken, AESKey: wecomtest.SimAESKey,
				CorpID: wecomtest.SimCorpID, AgentID: wecomtest.SimAgentID, Timeout: 100 * time.Millisecond, Retries: tc.retries})
			if err != nil {
				t.Fatal(err)
			}
			del, err := d.SendWeCom(t.Context(), wecomtest.ContactEvent("add_external_contact", "zhangsan", "wmA", t0, nil))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if del.Attempts != tc.attempts {
				t.Errorf("attempts = %d, want %d", del.Attempts, tc.attempts)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if len(rc.bodies) != tc.attempts {
				t.Errorf("server saw %d requests, want %d", len(rc.bodies), tc.attempts)
			}
			for i := 1; i < len(rc.bodies); i++ {
				if !bytes.Equal(rc.bodies[i], rc.bodies[0]) || rc.urls[i] != rc.urls[0] {
					t.Errorf("attempt %d differs from the first: a retry must resend the same request", i+1)
				}
			}
		})
	}
}

func TestDriverDecryptsPassiveReply(t *testing.T) {
	wc, err := wecom.NewCrypto(wecomtest.SimToken, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	reply := []byte("<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[收到]]></Content></xml>")
	rc := &recorder{open: openWeCom(wc), respond: func(_ int, w http.ResponseWriter) {
		sealed, err := wc.SealReply(reply, "1700000000", "123")
		if err != nil {
			t.Error(err)
		}
		_, _ = w.Write(sealed)
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d, err := wecomtest.NewDriver(wecomtest.DriverConfig{URL: srv.URL, Token: wecomtest.SimToken, AESKey: wecomtest.SimAESKey,
		CorpID: wecomtest.SimCorpID, AgentID: wecomtest.SimAgentID})
	if err != nil {
		t.Fatal(err)
	}
	del, err := d.SendWeCom(t.Context(), wecomtest.AppText("zhangsan", "hi", 1, t0))
	if err != nil || !bytes.Equal(del.Reply, reply) {
		t.Fatalf("reply = %s, %v", del.Reply, err)
	}
}

// The whole 微信客服 flow: the simulator queues customer messages, the
// driver sends kf_msg_or_event with the Token, and a server pulls them with
// kf/sync_msg through the client, page by page.
func TestKFFlowEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	client, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := wecom.NewCrypto(wecomtest.SimToken, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	cursor := ""
	server := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		plain, err := wc.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
		if err != nil {
			http.Error(w, "bad callback", http.StatusForbidden)
			return
		}
		ev, err := wecom.ParseWeCom(plain)
		if err != nil || ev.Kind != "event.kf_msg_or_event" {
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for {
			page, err := client.KFSyncMsg(r.Context(), cursor, ev.Attrs["Token"], 2, ev.Attrs["OpenKfId"])
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			for _, m := range page.Messages {
				got = append(got, m.Text)
			}
			cursor = page.NextCursor
			if !page.HasMore {
				break
			}
		}
	})
	srv := httptest.NewServer(server)
	defer srv.Close()
	d, err := wecomtest.NewDriver(wecomtest.DriverConfig{URL: srv.URL, Token: wecomtest.SimToken, AESKey: wecomtest.SimAESKey,
		CorpID: wecomtest.SimCorpID, AgentID: wecomtest.SimAgentID})
	if err != nil {
		t.Fatal(err)
	}
	sim.KFEmptyPages(1) // has_more with an empty page must not stop the pull
	var token string
	for _, text := range []string{"你好", "想咨询课程", "价格多少"} {
		token = sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkA", ExternalUserID: "wmC", Content: text})
	}
	if _, err := d.SendKFEvent(t.Context(), token, "wkA"); err != nil {
		t.Fatal(err)
	}
	token = sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkA", ExternalUserID: "wmC", Content: "还在吗"})
	if _, err := d.SendKFEvent(t.Context(), token, "wkA"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "你好|想咨询课程|价格多少|还在吗" {
		t.Errorf("pulled %q", got)
	}
}

func TestDriverOpensSimulatorServiceWindow(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "success") }))
	defer srv.Close()
	d, err := wecomtest.NewDriver(wecomtest.SimDriverConfig(srv.URL, srv.URL, sim))
	if err != nil {
		t.Fatal(err)
	}
	client, err := wecom.NewAPIClient(wecom.APIConfig{OAAppID: wecomtest.SimOAAppID, OAAppSecret: wecomtest.SimOAAppSecret, OABase: sim.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := client.OASendCustomText(ctx, "oNew", "x"); wecom.APIErrorCode(err) != 40003 {
		t.Fatalf("before any callback: err = %v, want 40003 (not a follower)", err)
	}
	if _, err := d.SendOA(ctx, wecomtest.OAClick("oNew", "menu", time.Now())); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // a click opens 3 messages within a minute
		if err := client.OASendCustomText(ctx, "oNew", "菜单回复"); err != nil {
			t.Fatalf("send %d after click: %v", i, err)
		}
	}
	if err := client.OASendCustomText(ctx, "oNew", "x"); wecom.APIErrorCode(err) != 45047 {
		t.Errorf("4th after click: err = %v, want 45047", err)
	}
	if _, err := d.SendOA(ctx, wecomtest.OAText("oNew", "问个问题", 77, time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := client.OASendCustomText(ctx, "oNew", "答复"); err != nil {
		t.Fatalf("after a message: %v", err)
	}
	if got := sim.SentTo("oNew"); len(got) != 4 || got[3].Content != "答复" || got[3].Channel != wecomtest.SentOA {
		t.Errorf("OA deliveries = %+v", got)
	}
}

func TestDriverHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server notices a closed connection only after the body is read
		<-r.Context().Done()
	}))
	defer srv.Close()
	d, err := wecomtest.NewDriver(wecomtest.DriverConfig{URL: srv.URL, Token: wecomtest.SimToken, AESKey: wecomtest.SimAESKey,
		CorpID: wecomtest.SimCorpID})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := d.SendWeCom(ctx, wecomtest.AppText("u", "x", 1, t0)); err == nil {
		t.Fatal("want an error")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v despite the cancelled context", el)
	}
}
