package wecom

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func cbtReadFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

const (
	cbtStaff    = "zhangsan"
	cbtExternal = "wmEAlECwAAHrbWYDOK5u3Bf13xlYDAAA"
	cbtOpenID   = "oTmHYjg6DSYSaYHOqvFQ2Ci-6ZTs"
	cbtChat     = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
	cbtOA       = "gh_7f3a9c2d1e4b"
)

// cbtFixture is what one testdata file must parse into.
type cbtFixture struct {
	file      string
	kind      string
	from      string
	staff     string
	customer  string
	text      string
	msgID     string
	created   int64
	attrs     map[string]string // must be present with these values
	dedup     string
	channelOA bool
}

var cbtFixtures = []cbtFixture{
	// WeCom app messages from staff.
	{file: "wecom_text.xml", kind: "text", from: cbtStaff, staff: cbtStaff, text: "王总说下周三再联系他，报价单发过去了",
		msgID: "7382049153846211501", created: 1718000000, attrs: map[string]string{"AgentID": "1000002", "MsgType": "text"},
		dedup: "msg:wecom:7382049153846211501"},
	{file: "wecom_image.xml", kind: "image", from: cbtStaff, staff: cbtStaff, text: "[图片]", msgID: "7382049153846211502", created: 1718000010,
		attrs: map[string]string{"PicUrl": "https://wework.qpic.cn/wwpic/383929_Sk2pQ8nTRVeB5n1_1718000010/0", "MediaId": "1Gvk9Ra5xVqSm8PVVlGoK4TGv7uBu6XRoJ6Bn3nYVsQu8x7CHZ8oIo0Bf0gM3lGpL"},
		dedup: "msg:wecom:7382049153846211502"},
	{file: "wecom_voice.xml", kind: "voice", from: cbtStaff, staff: cbtStaff, text: "[语音]", msgID: "7382049153846211503", created: 1718000020,
		attrs: map[string]string{"Format": "amr", "MediaId": "3Xk5ByPnYl0n2Tq4m6Zc8Vb1Nd9Rf7Gh2Jk4Lm6Pq8St0Uv2Wx4Yz6Ab8Cd0Ef2Gh"},
		dedup: "msg:wecom:7382049153846211503"},
	{file: "wecom_video.xml", kind: "video", from: cbtStaff, staff: cbtStaff, text: "[视频]", msgID: "7382049153846211504", created: 1718000030,
		attrs: map[string]string{"ThumbMediaId": "4Th1Mb3Nd5Ia7Id9Xy1Za3Bc5De7Fg9Hi1Jk3Lm5No7Pq9Rs1Tu3Vw5Xy7Za9Bc"},
		dedup: "msg:wecom:7382049153846211504"},
	{file: "wecom_location.xml", kind: "location", from: cbtStaff, staff: cbtStaff, text: "[位置] 上海市黄浦区人民大道200号", msgID: "7382049153846211505", created: 1718000040,
		attrs: map[string]string{"Location_X": "31.230416", "Location_Y": "121.473701", "Scale": "15", "Label": "上海市黄浦区人民大道200号"},
		dedup: "msg:wecom:7382049153846211505"},
	{file: "wecom_link.xml", kind: "link", from: cbtStaff, staff: cbtStaff, text: "[链接] 2024年度产品报价单 https://example.com/quote/2024?id=88", msgID: "7382049153846211506", created: 1718000050,
		attrs: map[string]string{"Title": "2024年度产品报价单", "Description": "含企业版与旗舰版价格", "Url": "https://example.com/quote/2024?id=88", "PicUrl": "https://example.com/quote/cover.png"},
		dedup: "msg:wecom:7382049153846211506"},

	// WeCom app events.
	{file: "wecom_event_enter_agent.xml", kind: "event.enter_agent", from: cbtStaff, staff: cbtStaff, created: 1718000060,
		attrs: map[string]string{"Event": "enter_agent", "AgentID": "1000002"},
		dedup: "wecom:evt:zhangsan:1718000060:enter_agent::::AgentID=1000002"},
	{file: "wecom_event_click.xml", kind: "event.click", from: cbtStaff, staff: cbtStaff, created: 1718000070,
		attrs: map[string]string{"EventKey": "MY_CUSTOMERS_TODAY"},
		dedup: "wecom:evt:zhangsan:1718000070:click::::AgentID=1000002:EventKey=MY_CUSTOMERS_TODAY"},
	{file: "wecom_event_view.xml", kind: "event.view", from: cbtStaff, staff: cbtStaff, created: 1718000080,
		attrs: map[string]string{"EventKey": "https://scrm.example.com/m/customers"},
		dedup: "wecom:evt:zhangsan:1718000080:view::::AgentID=1000002:EventKey=https%3A//scrm.example.com/m/customers"},
	{file: "wecom_event_template_card.xml", kind: "event.template_card_event", from: cbtStaff, staff: cbtStaff, created: 1718000090,
		attrs: map[string]string{"EventKey": "reminder_done", "TaskId": "rem-20240610-0042", "CardType": "button_interaction",
			"ResponseCode": "allGFD7TwcNK7Q0bJmL9kE3XwPvDqHGwUoz-j0Qf1rY", "SelectedItems": "next_step:call,visit"},
		dedup: "wecom:evt:zhangsan:1718000090:template_card_event::::AgentID=1000002:TaskId=rem-20240610-0042:EventKey=reminder_done"},

	// Customer contact changes (path/92130).
	{file: "wecom_contact_add_external_contact.xml", kind: "event.change_external_contact.add_external_contact", from: "sys", staff: cbtStaff, customer: cbtExternal, created: 1718000100,
		attrs: map[string]string{"ChangeType": "add_external_contact", "State": "expo2024_booth_a", "WelcomeCode": "CALLBACK_CODE_5fG9kLm2Np4Qr6St8Uv0", "UserID": cbtStaff, "ExternalUserID": cbtExternal},
		dedup: "wecom:evt:sys:1718000100:change_external_contact:add_external_contact:zhangsan:" + cbtExternal},
	{file: "wecom_contact_edit_external_contact.xml", kind: "event.change_external_contact.edit_external_contact", from: "sys", staff: cbtStaff, customer: cbtExternal, created: 1718000110,
		attrs: map[string]string{"ChangeType": "edit_external_contact"},
		dedup: "wecom:evt:sys:1718000110:change_external_contact:edit_external_contact:zhangsan:" + cbtExternal},
	{file: "wecom_contact_add_half_external_contact.xml", kind: "event.change_external_contact.add_half_external_contact", from: "sys", staff: "lisi", customer: "wmEAlECwAAq2hZ3kT9vPpY7Rr8sXyBBB", created: 1718000120,
		attrs: map[string]string{"State": "wechat_ad_q2", "WelcomeCode": "CALLBACK_CODE_7hJ1kLm3Np5Qr7St9Uv1"},
		dedup: "wecom:evt:sys:1718000120:change_external_contact:add_half_external_contact:lisi:wmEAlECwAAq2hZ3kT9vPpY7Rr8sXyBBB"},
	{file: "wecom_contact_del_external_contact.xml", kind: "event.change_external_contact.del_external_contact", from: "sys", staff: cbtStaff, customer: cbtExternal, created: 1718000130,
		attrs: map[string]string{"Source": "DELETE_BY_TRANSFER"},
		dedup: "wecom:evt:sys:1718000130:change_external_contact:del_external_contact:zhangsan:" + cbtExternal},
	{file: "wecom_contact_del_follow_user.xml", kind: "event.change_external_contact.del_follow_user", from: "sys", staff: cbtStaff, customer: cbtExternal, created: 1718000140,
		attrs: map[string]string{"ChangeType": "del_follow_user"},
		dedup: "wecom:evt:sys:1718000140:change_external_contact:del_follow_user:zhangsan:" + cbtExternal},
	{file: "wecom_contact_transfer_fail.xml", kind: "event.change_external_contact.transfer_fail", from: "sys", staff: "wangwu", customer: cbtExternal, created: 1718000150,
		attrs: map[string]string{"FailReason": "customer_refused"},
		dedup: "wecom:evt:sys:1718000150:change_external_contact:transfer_fail:wangwu:" + cbtExternal},

	// Customer groups.
	{file: "wecom_chat_create.xml", kind: "event.change_external_chat.create", from: "sys", created: 1718000160,
		attrs: map[string]string{"ChatId": cbtChat},
		dedup: "wecom:evt:sys:1718000160:change_external_chat:create:::ChatId=" + cbtChat},
	{file: "wecom_chat_update.xml", kind: "event.change_external_chat.update", from: "sys", created: 1718000170,
		attrs: map[string]string{"ChatId": cbtChat, "UpdateDetail": "add_member", "JoinScene": "3", "QuitScene": "0", "MemChangeCnt": "2",
			"MemChangeList": cbtExternal + ",lisi", "LastMemVer": "9c3f97c2ada667dfb5f6d03308d963e1", "CurMemVer": "71217227bbd112ecfe3a49c482195cb4"},
		dedup: "wecom:evt:sys:1718000170:change_external_chat:update:::ChatId=" + cbtChat + ":UpdateDetail=add_member:MemChangeList=" + cbtExternal + ",lisi:CurMemVer=71217227bbd112ecfe3a49c482195cb4"},
	{file: "wecom_chat_dismiss.xml", kind: "event.change_external_chat.dismiss", from: "sys", created: 1718000180,
		attrs: map[string]string{"ChatId": cbtChat},
		dedup: "wecom:evt:sys:1718000180:change_external_chat:dismiss:::ChatId=" + cbtChat},

	// Corp tags.
	{file: "wecom_tag_create.xml", kind: "event.change_external_tag.create", from: "sys", created: 1718000190,
		attrs: map[string]string{"Id": "etXXXXXXXXXXXXXXXXXXXXXXXXhotlead", "TagType": "tag"},
		dedup: "wecom:evt:sys:1718000190:change_external_tag:create:::Id=etXXXXXXXXXXXXXXXXXXXXXXXXhotlead:TagType=tag"},
	{file: "wecom_tag_update.xml", kind: "event.change_external_tag.update", from: "sys", created: 1718000200,
		attrs: map[string]string{"Id": "etXXXXXXXXXXXXXXXXXXXXXXXXgroup01", "TagType": "tag_group"},
		dedup: "wecom:evt:sys:1718000200:change_external_tag:update:::Id=etXXXXXXXXXXXXXXXXXXXXXXXXgroup01:TagType=tag_group"},
	{file: "wecom_tag_delete.xml", kind: "event.change_external_tag.delete", from: "sys", created: 1718000210,
		attrs: map[string]string{"Id": "etXXXXXXXXXXXXXXXXXXXXXXXXhotlead", "TagType": "tag"},
		dedup: "wecom:evt:sys:1718000210:change_external_tag:delete:::Id=etXXXXXXXXXXXXXXXXXXXXXXXXhotlead:TagType=tag"},
	{file: "wecom_tag_shuffle.xml", kind: "event.change_external_tag.shuffle", from: "sys", created: 1718000220,
		attrs: map[string]string{"Id": "etXXXXXXXXXXXXXXXXXXXXXXXXgroup01", "StrategyId": "1"},
		dedup: "wecom:evt:sys:1718000220:change_external_tag:shuffle:::Id=etXXXXXXXXXXXXXXXXXXXXXXXXgroup01:StrategyId=1"},

	// 微信客服 and an event scrm does not know.
	{file: "wecom_kf_msg_or_event.xml", kind: "event.kf_msg_or_event", created: 1718000230,
		attrs: map[string]string{"Token": "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR", "OpenKfId": "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"},
		dedup: "kf:ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"},
	{file: "wecom_event_unknown.xml", kind: "event.living_status_change", from: "sys", created: 1718000240,
		attrs: map[string]string{"Event": "living_status_change", "Status": "1"},
		dedup: "wecom:evt:sys:1718000240:living_status_change:::"},

	// Official Account.
	{file: "oa_text.xml", channelOA: true, kind: "text", from: cbtOpenID, customer: cbtOpenID, text: "你好，旗舰版多少钱？我的电话是13800138000",
		msgID: "24598123456789012", created: 1718000300, dedup: "msg:oa:24598123456789012"},
	{file: "oa_image.xml", channelOA: true, kind: "image", from: cbtOpenID, customer: cbtOpenID, text: "[图片]", msgID: "24598123456789013", created: 1718000310,
		attrs: map[string]string{"PicUrl": "http://mmbiz.qpic.cn/mmbiz_jpg/xyz123/0"}, dedup: "msg:oa:24598123456789013"},
	{file: "oa_voice.xml", channelOA: true, kind: "voice", from: cbtOpenID, customer: cbtOpenID, text: "[语音] 明天下午三点可以见面", msgID: "24598123456789014", created: 1718000320,
		attrs: map[string]string{"Recognition": "明天下午三点可以见面", "Format": "amr"}, dedup: "msg:oa:24598123456789014"},
	{file: "oa_location.xml", channelOA: true, kind: "location", from: cbtOpenID, customer: cbtOpenID, text: "[位置] 北京市东城区东长安街", msgID: "24598123456789015", created: 1718000330,
		attrs: map[string]string{"Location_X": "39.908823", "Location_Y": "116.397470", "Scale": "16"}, dedup: "msg:oa:24598123456789015"},
	{file: "oa_link.xml", channelOA: true, kind: "link", from: cbtOpenID, customer: cbtOpenID, text: "[链接] 竞品对比文章 https://mp.weixin.qq.com/s/AbCdEfGhIjKlMnOp", msgID: "24598123456789016", created: 1718000340,
		attrs: map[string]string{"Url": "https://mp.weixin.qq.com/s/AbCdEfGhIjKlMnOp"}, dedup: "msg:oa:24598123456789016"},
	{file: "oa_subscribe.xml", channelOA: true, kind: "event.subscribe", from: cbtOpenID, customer: cbtOpenID, created: 1718000350,
		attrs: map[string]string{"EventKey": "qrscene_expo2024", "Ticket": "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw=="},
		dedup: "oa:evt:" + cbtOpenID + ":1718000350:subscribe::::EventKey=qrscene_expo2024"},
	{file: "oa_unsubscribe.xml", channelOA: true, kind: "event.unsubscribe", from: cbtOpenID, customer: cbtOpenID, created: 1718000360,
		dedup: "oa:evt:" + cbtOpenID + ":1718000360:unsubscribe:::"},
	{file: "oa_scan.xml", channelOA: true, kind: "event.scan", from: cbtOpenID, customer: cbtOpenID, created: 1718000370,
		attrs: map[string]string{"Event": "SCAN", "EventKey": "expo2024"},
		dedup: "oa:evt:" + cbtOpenID + ":1718000370:SCAN::::EventKey=expo2024"},
	{file: "oa_click.xml", channelOA: true, kind: "event.click", from: cbtOpenID, customer: cbtOpenID, created: 1718000380,
		attrs: map[string]string{"Event": "CLICK", "EventKey": "CONTACT_SALES"},
		dedup: "oa:evt:" + cbtOpenID + ":1718000380:CLICK::::EventKey=CONTACT_SALES"},
	{file: "oa_view.xml", channelOA: true, kind: "event.view", from: cbtOpenID, customer: cbtOpenID, created: 1718000390,
		attrs: map[string]string{"EventKey": "https://scrm.example.com/pricing", "MenuId": "412030018"},
		dedup: "oa:evt:" + cbtOpenID + ":1718000390:VIEW::::EventKey=https%3A//scrm.example.com/pricing"},
}

// cbtDeliver plays the platform and the webhook for one fixture: seal the
// plaintext as WeCom or the OA would send it, then open the envelope, verify
// the signature, decrypt and parse.
func cbtDeliver(t testing.TB, c *Crypto, oa bool, plain []byte, nonce string) *Event {
	t.Helper()
	const ts = "1718003600"
	var body []byte
	var sig string
	var err error
	if oa {
		body, sig, err = c.SealOA(plain, cbtOA, ts, nonce)
	} else {
		body, sig, err = c.SealWeCom(plain, cbtCorpID, "1000002", ts, nonce)
	}
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	encrypt, err := OpenEnvelope(body)
	if err != nil {
		t.Fatalf("OpenEnvelope: %v", err)
	}
	if !c.Verify(sig, ts, nonce, encrypt) {
		t.Fatal("Verify rejected a sealed callback")
	}
	got, err := c.Decrypt(encrypt)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt changed the plaintext")
	}
	var e *Event
	if oa {
		e, err = ParseOA(got)
	} else {
		e, err = ParseWeCom(got)
	}
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return e
}

func TestParseFixtures(t *testing.T) {
	wecomCrypto := cbtCrypto(t, cbtCorpID)
	oaCrypto := cbtCrypto(t, cbtOAID)
	for _, fx := range cbtFixtures {
		t.Run(strings.TrimSuffix(fx.file, ".xml"), func(t *testing.T) {
			plain := cbtReadFixture(t, fx.file)
			c, channel, to := wecomCrypto, EventChannelWeCom, cbtCorpID
			if fx.channelOA {
				c, channel, to = oaCrypto, EventChannelOA, cbtOA
			}
			e := cbtDeliver(t, c, fx.channelOA, plain, "n"+fx.file)

			if e.Channel != channel || e.Kind != fx.kind || e.FromID != fx.from || e.ToID != to ||
				e.StaffID != fx.staff || e.CustomerID != fx.customer || e.Text != fx.text || e.MsgID != fx.msgID {
				t.Errorf("got channel=%q kind=%q from=%q to=%q staff=%q customer=%q text=%q msgid=%q\nwant channel=%q kind=%q from=%q to=%q staff=%q customer=%q text=%q msgid=%q",
					e.Channel, e.Kind, e.FromID, e.ToID, e.StaffID, e.CustomerID, e.Text, e.MsgID,
					channel, fx.kind, fx.from, to, fx.staff, fx.customer, fx.text, fx.msgID)
			}
			if want := time.Unix(fx.created, 0).UTC(); !e.CreateTime.Equal(want) || e.CreateTime.Location() != time.UTC {
				t.Errorf("CreateTime = %v, want %v", e.CreateTime, want)
			}
			for k, v := range fx.attrs {
				if e.Attrs[k] != v {
					t.Errorf("Attrs[%s] = %q, want %q", k, e.Attrs[k], v)
				}
			}
			for k, v := range e.Attrs {
				if v == "" {
					t.Errorf("Attrs[%s] is present but empty", k)
				}
			}
			if !bytes.Equal(e.Raw, plain) {
				t.Errorf("Raw differs from the plaintext")
			}
			if got := e.DedupKey(); got != fx.dedup {
				t.Errorf("DedupKey = %q, want %q", got, fx.dedup)
			}
		})
	}
}

// Every file in testdata must have expectations above, so a fixture other
// packages rely on cannot drift unnoticed.
func TestEveryFixtureIsChecked(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, fx := range cbtFixtures {
		checked[fx.file] = true
	}
	for _, f := range files {
		if !checked[filepath.Base(f)] {
			t.Errorf("testdata/%s has no entry in cbtFixtures", filepath.Base(f))
		}
	}
	if len(files) != len(cbtFixtures) {
		t.Errorf("%d fixtures on disk, %d in the table", len(files), len(cbtFixtures))
	}
}

func TestParseRawIsACopy(t *testing.T) {
	buf := cbtReadFixture(t, "wecom_text.xml")
	e, err := ParseWeCom(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(buf)
	for i := range buf {
		buf[i] = 'x' // the HTTP server reuses its buffer
	}
	if !bytes.Equal(e.Raw, want) {
		t.Fatal("Event.Raw aliases the caller's buffer")
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"whitespace", "   \n"},
		{"not xml", "hello"},
		{"json", `{"MsgType":"text"}`},
		{"unterminated", "<xml><MsgType>text</MsgType><Content>hi"},
		{"mismatched tags", "<xml><MsgType>text</Type></xml>"},
		{"bad entity", "<xml><Content>&nosuch;</Content></xml>"},
		{"illegal character", "<xml><Content>\x01</Content></xml>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, parse := range map[string]func([]byte) (*Event, error){"wecom": ParseWeCom, "oa": ParseOA} {
				e, err := parse([]byte(tt.in))
				if !errors.Is(err, ErrMalformed) || e != nil {
					t.Fatalf("%s: parse = %v, %v; want ErrMalformed", name, e, err)
				}
			}
		})
	}
}

func TestParseUnknownAndOdd(t *testing.T) {
	tests := []struct {
		name     string
		xml      string
		oa       bool
		kind     string
		msgID    string
		staff    string
		text     string
		dedupPfx string
		attrs    map[string]string
	}{
		{name: "unknown message type keeps MsgType and MsgId",
			xml:  `<xml><ToUserName>c</ToUserName><FromUserName>zhangsan</FromUserName><CreateTime>1718000000</CreateTime><MsgType>file</MsgType><MsgId>99</MsgId></xml>`,
			kind: "unknown", msgID: "99", staff: "zhangsan", dedupPfx: "msg:wecom:99", attrs: map[string]string{"MsgType": "file"}},
		{name: "no MsgType at all",
			xml:  `<xml><ToUserName>c</ToUserName><FromUserName>zhangsan</FromUserName></xml>`,
			kind: "unknown", staff: "zhangsan", dedupPfx: "wecom:evt:zhangsan::::::MsgType=:Raw="},
		{name: "event without Event",
			xml:  `<xml><FromUserName>sys</FromUserName><CreateTime>1718000000</CreateTime><MsgType>event</MsgType></xml>`,
			kind: "unknown", dedupPfx: "wecom:evt:sys:1718000000::::"},
		{name: "change event without ChangeType",
			xml:  `<xml><FromUserName>sys</FromUserName><MsgType>event</MsgType><Event>change_external_contact</Event></xml>`,
			kind: "event.change_external_contact", dedupPfx: "wecom:evt:sys::change_external_contact:::"},
		{name: "unknown ChangeType is kept",
			xml:  `<xml><FromUserName>sys</FromUserName><MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>msg_audit_approved</ChangeType><UserID>u1</UserID></xml>`,
			kind: "event.change_external_contact.msg_audit_approved", staff: "u1", dedupPfx: "wecom:evt:sys::change_external_contact:msg_audit_approved:u1:"},
		{name: "OA short video is a video",
			xml: `<xml><FromUserName>o1</FromUserName><MsgType>shortvideo</MsgType><MediaId>m</MediaId><MsgId>5</MsgId></xml>`, oa: true,
			kind: "video", msgID: "5", text: "[视频]", dedupPfx: "msg:oa:5", attrs: map[string]string{"MsgType": "shortvideo"}},
		{name: "OA template job event with MsgID is still an event",
			xml: `<xml><FromUserName>o1</FromUserName><CreateTime>1718000000</CreateTime><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>success</Status></xml>`, oa: true,
			kind: "event.templatesendjobfinish", dedupPfx: "oa:evt:o1:1718000000:TEMPLATESENDJOBFINISH:::", attrs: map[string]string{"MsgID": "200163836", "Status": "success"}},
		{name: "non-numeric CreateTime is ignored",
			xml:  `<xml><FromUserName>zhangsan</FromUserName><CreateTime>yesterday</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>7</MsgId></xml>`,
			kind: "text", msgID: "7", staff: "zhangsan", text: "hi", dedupPfx: "msg:wecom:7"},
		{name: "legacy comma-separated MemChangeList",
			xml:  `<xml><FromUserName>sys</FromUserName><CreateTime>1718000000</CreateTime><MsgType>event</MsgType><Event>change_external_chat</Event><ChatId>wr1</ChatId><ChangeType>update</ChangeType><UpdateDetail>del_member</UpdateDetail><MemChangeList><![CDATA[a1,b2]]></MemChangeList></xml>`,
			kind: "event.change_external_chat.update", dedupPfx: "wecom:evt:sys:1718000000:change_external_chat:update:::ChatId=wr1:UpdateDetail=del_member:MemChangeList=a1,b2",
			attrs: map[string]string{"MemChangeList": "a1,b2"}},
		{name: "location without label shows coordinates",
			xml:  `<xml><FromUserName>zhangsan</FromUserName><MsgType>location</MsgType><Location_X>1.5</Location_X><Location_Y>2.5</Location_Y><MsgId>8</MsgId></xml>`,
			kind: "location", msgID: "8", staff: "zhangsan", text: "[位置] 1.5,2.5", dedupPfx: "msg:wecom:8"},
		{name: "entities and unknown elements",
			xml:  `<xml><FromUserName>zhangsan</FromUserName><MsgType>text</MsgType><Content>a &lt;b&gt; &amp; c</Content><MsgId>9</MsgId><Future><Nested>x</Nested></Future></xml>`,
			kind: "text", msgID: "9", staff: "zhangsan", text: "a <b> & c", dedupPfx: "msg:wecom:9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := ParseWeCom
			if tt.oa {
				parse = ParseOA
			}
			e, err := parse([]byte(tt.xml))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if e.Kind != tt.kind || e.MsgID != tt.msgID || e.StaffID != tt.staff || e.Text != tt.text {
				t.Fatalf("got kind=%q msgid=%q staff=%q text=%q; want %q %q %q %q", e.Kind, e.MsgID, e.StaffID, e.Text, tt.kind, tt.msgID, tt.staff, tt.text)
			}
			if key := e.DedupKey(); !strings.HasPrefix(key, tt.dedupPfx) {
				t.Fatalf("DedupKey = %q, want prefix %q", key, tt.dedupPfx)
			}
			for k, v := range tt.attrs {
				if e.Attrs[k] != v {
					t.Fatalf("Attrs[%s] = %q, want %q", k, e.Attrs[k], v)
				}
			}
		})
	}
}

var (
	cbtCDATA       = regexp.MustCompile(`<!\[CDATA\[(.*?)\]\]>`)
	cbtBetweenTags = regexp.MustCompile(`(</[^>]+>|<xml>)\s*(<)`)
)

// cbtReformat writes the same callback differently: escaped text instead of
// CDATA, and line breaks and indentation between elements (never inside a
// value).
func cbtReformat(b []byte) []byte {
	s := cbtCDATA.ReplaceAllStringFunc(string(b), func(m string) string {
		inner := cbtCDATA.FindStringSubmatch(m)[1]
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(inner)
	})
	s = cbtBetweenTags.ReplaceAllString(s, "$1\n    $2")
	return []byte(s)
}

func TestDedupKeyRetriesCollide(t *testing.T) {
	wecomCrypto := cbtCrypto(t, cbtCorpID)
	oaCrypto := cbtCrypto(t, cbtOAID)
	for _, fx := range cbtFixtures {
		t.Run(strings.TrimSuffix(fx.file, ".xml"), func(t *testing.T) {
			plain := cbtReadFixture(t, fx.file)
			c := wecomCrypto
			if fx.channelOA {
				c = oaCrypto
			}
			// A retry is sealed again with new random bytes and a new nonce.
			first := cbtDeliver(t, c, fx.channelOA, plain, "first")
			retry := cbtDeliver(t, c, fx.channelOA, plain, "retry")
			reformatted := cbtDeliver(t, c, fx.channelOA, cbtReformat(plain), "third")
			if first.DedupKey() != retry.DedupKey() {
				t.Fatalf("retry key %q != first key %q", retry.DedupKey(), first.DedupKey())
			}
			if first.DedupKey() != reformatted.DedupKey() {
				t.Fatalf("reformatted key %q != first key %q", reformatted.DedupKey(), first.DedupKey())
			}
			if first.Kind != reformatted.Kind || first.Text != reformatted.Text || !maps.Equal(first.Attrs, reformatted.Attrs) {
				t.Fatalf("reformatting changed the event: %+v vs %+v", first, reformatted)
			}
		})
	}
}

func TestDedupKeyDistinct(t *testing.T) {
	keys := map[string]string{}
	add := func(name string, e *Event) {
		t.Helper()
		k := e.DedupKey()
		if prev, ok := keys[k]; ok {
			t.Errorf("%s and %s share dedup key %q", prev, name, k)
		}
		keys[k] = name
	}
	parse := func(name string, oa bool, xml string) *Event {
		t.Helper()
		p := ParseWeCom
		if oa {
			p = ParseOA
		}
		e, err := p([]byte(xml))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return e
	}
	for _, fx := range cbtFixtures {
		add(fx.file, parse(fx.file, fx.channelOA, string(cbtReadFixture(t, fx.file))))
	}

	// Distinct callbacks within the same second that a FromUserName+CreateTime
	// key alone would merge.
	fixture := func(name string) string { return string(cbtReadFixture(t, name)) }
	variants := []struct {
		name, base, old, new string
		oa                   bool
	}{
		{"another group updated", "wecom_chat_update.xml", cbtChat, "wrOgQhDgAAMYQiS5ol9G7gK9JVBBBB", false},
		{"same group renamed", "wecom_chat_update.xml", "<UpdateDetail><![CDATA[add_member]]>", "<UpdateDetail><![CDATA[change_name]]>", false},
		{"other members joined", "wecom_chat_update.xml", "<Item><![CDATA[lisi]]></Item>", "<Item><![CDATA[wangwu]]></Item>", false},
		{"another tag created", "wecom_tag_create.xml", "hotlead", "coldlead", false},
		{"a tag group created", "wecom_tag_create.xml", "<TagType><![CDATA[tag]]>", "<TagType><![CDATA[tag_group]]>", false},
		{"another card pressed", "wecom_event_template_card.xml", "rem-20240610-0042", "rem-20240610-0043", false},
		{"another button pressed", "wecom_event_template_card.xml", "reminder_done", "reminder_snooze", false},
		{"another menu clicked", "wecom_event_click.xml", "MY_CUSTOMERS_TODAY", "MY_REMINDERS", false},
		{"enter another app", "wecom_event_enter_agent.xml", "<AgentID>1000002</AgentID>", "<AgentID>1000003</AgentID>", false},
		{"another customer added", "wecom_contact_add_external_contact.xml", cbtExternal, "wmEAlECwAAzzzzzzzzzzzzzzzzzzzzzz", false},
		{"same customer added by another staff", "wecom_contact_add_external_contact.xml", "<UserID><![CDATA[zhangsan]]>", "<UserID><![CDATA[lisi]]>", false},
		{"another kf token", "wecom_kf_msg_or_event.xml", "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR", "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NS", false},
		{"a WeCom event with OA-like fields", "oa_click.xml", "", "", false},
		{"an OA message with a WeCom MsgId", "wecom_text.xml", "", "", true},
		{"another QR code scanned", "oa_scan.xml", "expo2024", "expo2025", true},
	}
	for _, v := range variants {
		src := fixture(v.base)
		if v.old != "" {
			if !strings.Contains(src, v.old) {
				t.Fatalf("%s: %q not in %s", v.name, v.old, v.base)
			}
			src = strings.ReplaceAll(src, v.old, v.new)
		}
		add(v.name, parse(v.name, v.oa, src))
	}

	// Messages without MsgId in the same second differ by content.
	add("no MsgId a", parse("a", false, `<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>a</Content></xml>`))
	add("no MsgId b", parse("b", false, `<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>b</Content></xml>`))
}

// Separators inside values must not let two different events share a key.
func TestDedupKeyEscaping(t *testing.T) {
	values := []string{"", "a", ":", "a:b", "%3A", "b="}
	fields := []string{"From", "Event", "ChangeType", "UserID", "ExternalUserID", "ChatId"}
	seen := map[string][]string{}
	idx := make([]int, len(fields))
	for {
		vals := make([]string, len(fields))
		for i, j := range idx {
			vals[i] = values[j]
		}
		e := &Event{
			Channel:    EventChannelWeCom,
			Kind:       "event.x",
			FromID:     vals[0],
			CreateTime: time.Unix(1718000000, 0).UTC(),
			Attrs:      map[string]string{"MsgType": "event"},
		}
		for i, name := range fields[1:] {
			if vals[i+1] != "" {
				e.Attrs[name] = vals[i+1]
			}
		}
		k := e.DedupKey()
		if prev, ok := seen[k]; ok {
			t.Fatalf("%q and %q share key %q", prev, vals, k)
		}
		seen[k] = vals
		// next combination
		i := 0
		for ; i < len(idx); i++ {
			idx[i]++
			if idx[i] < len(values) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) {
			break
		}
	}
	if len(seen) != 6*6*6*6*6*6 {
		t.Fatalf("%d keys for %d combinations", len(seen), 6*6*6*6*6*6)
	}
}

func cbtCheckEvent(t *testing.T, channel string, data []byte, e *Event, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		if e != nil {
			t.Fatal("non-nil event with an error")
		}
		return
	}
	if e == nil {
		t.Fatal("nil event without an error")
	}
	if e.Channel != channel || e.Kind == "" || !bytes.Equal(e.Raw, data) {
		t.Fatalf("bad event: channel=%q kind=%q", e.Channel, e.Kind)
	}
	if e.Kind != "unknown" && !slices.Contains([]string{"text", "image", "voice", "video", "location", "link"}, e.Kind) && !strings.HasPrefix(e.Kind, "event.") {
		t.Fatalf("unexpected kind %q", e.Kind)
	}
	for k, v := range e.Attrs {
		if v == "" {
			t.Fatalf("empty Attrs[%s]", k)
		}
	}
	if e.DedupKey() == "" {
		t.Fatal("empty dedup key")
	}
}

func cbtFuzzParse(f *testing.F, channel string, parse func([]byte) (*Event, error)) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(cbtOfficialPostPlain))
	f.Add([]byte("<xml><MemChangeList>a<Item>b</Item>c</MemChangeList><SelectedItems><SelectedItem><OptionIds><OptionId>1</OptionId></OptionIds></SelectedItem></SelectedItems></xml>"))
	c, err := NewCrypto(cbtToken, cbtAESKey, cbtCorpID)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := parse(data)
		cbtCheckEvent(t, channel, data, e, err)
		if err != nil {
			return
		}
		// Parsing is deterministic, and a callback that went through the
		// platform's encryption parses to the same event.
		enc, err := c.Encrypt(data)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := c.Decrypt(enc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parse(plain)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		if again.DedupKey() != e.DedupKey() || again.Kind != e.Kind || again.Text != e.Text ||
			again.StaffID != e.StaffID || again.CustomerID != e.CustomerID || !maps.Equal(again.Attrs, e.Attrs) {
			t.Fatalf("parse is not deterministic: %+v vs %+v", e, again)
		}
	})
}

func FuzzParseWeCom(f *testing.F) { cbtFuzzParse(f, EventChannelWeCom, ParseWeCom) }

func FuzzParseOA(f *testing.F) { cbtFuzzParse(f, EventChannelOA, ParseOA) }

func BenchmarkParseWeCom(b *testing.B) {
	for _, name := range []string{"wecom_text.xml", "wecom_contact_add_external_contact.xml", "wecom_chat_update.xml"} {
		plain := cbtReadFixture(b, name)
		b.Run(strings.TrimSuffix(name, ".xml"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				e, err := ParseWeCom(plain)
				if err != nil {
					b.Fatal(err)
				}
				_ = e.DedupKey()
			}
		})
	}
}

func BenchmarkParseOA(b *testing.B) {
	for _, name := range []string{"oa_text.xml", "oa_subscribe.xml"} {
		plain := cbtReadFixture(b, name)
		b.Run(strings.TrimSuffix(name, ".xml"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				e, err := ParseOA(plain)
				if err != nil {
					b.Fatal(err)
				}
				_ = e.DedupKey()
			}
		})
	}
}

// BenchmarkWebhookPath is the server's whole per-callback protocol work:
// envelope, signature, decryption, parsing and the dedup key.
func BenchmarkWebhookPath(b *testing.B) {
	c := cbtCrypto(b, cbtCorpID)
	plain := cbtReadFixture(b, "wecom_contact_add_external_contact.xml")
	body, sig, err := c.SealWeCom(plain, cbtCorpID, "1000002", "1718003600", "nonce1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := c.Open(sig, "1718003600", "nonce1", body)
		if err != nil {
			b.Fatal(err)
		}
		e, err := ParseWeCom(got)
		if err != nil {
			b.Fatal(err)
		}
		_ = e.DedupKey()
	}
}
