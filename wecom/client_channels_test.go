package wecom_test

import (
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func TestContactWayLifecycle(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 3)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()

	if _, _, err := c.AddContactWay(ctx, wecom.ContactWay{Type: 2, Scene: 2, State: strings.Repeat("s", 31), User: []string{"u00"}}); wecom.APIErrorCode(err) != 40058 {
		t.Fatalf("a 31-character state: %v, want 40058", err)
	}
	if _, _, err := c.AddContactWay(ctx, wecom.ContactWay{Type: 1, Scene: 2, User: []string{"u00", "u01"}}); wecom.APIErrorCode(err) != 40058 {
		t.Fatalf("type 1 with two members: %v, want 40058", err)
	}
	if _, _, err := c.AddContactWay(ctx, wecom.ContactWay{Type: 1, Scene: 2, User: []string{"nobody"}}); wecom.APIErrorCode(err) != 60111 {
		t.Fatalf("an unknown member: %v, want 60111", err)
	}
	id, qr, err := c.AddContactWay(ctx, wecom.ContactWay{Type: 2, Scene: 2, State: "ch-1", SkipVerify: true, User: []string{"u00", "u01"}})
	if err != nil || id == "" || qr == "" {
		t.Fatalf("AddContactWay = %q, %q, %v", id, qr, err)
	}
	resp, err := http.Get(qr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(resp.Body); err != nil || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR code image: %v (%s)", err, resp.Header.Get("Content-Type"))
	}
	resp.Body.Close()

	if err := c.UpdateContactWay(ctx, wecom.ContactWay{ConfigID: id, State: "ch-1", User: []string{"u02"}}); err != nil {
		t.Fatal(err)
	}
	w, err := c.GetContactWay(ctx, id)
	if err != nil || w.State != "ch-1" || len(w.User) != 1 || w.User[0] != "u02" || w.QRCode != qr || w.SkipVerify {
		t.Fatalf("GetContactWay = %+v, %v", w, err)
	}
	if err := c.DelContactWay(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetContactWay(ctx, id); wecom.APIErrorCode(err) != 41044 {
		t.Fatalf("a deleted way: %v, want 41044", err)
	}
}

func TestWelcomeOnceWithin20s(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 2)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	id, _, err := c.AddContactWay(ctx, wecom.ContactWay{Type: 1, Scene: 2, State: "ch-9", User: []string{"u01"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := sim.ScanContactWay(id, "", wecomtest.Contact{ExternalUserID: "wmA", Name: "阿朱"}, false)
	code := ev.Field("WelcomeCode")
	if ev.Field("State") != "ch-9" || code == "" || ev.Field("UserID") != "u01" {
		t.Fatalf("add event = %s", ev.XML(wecomtest.SimCorpID, ""))
	}
	if got, _ := sim.ExternalContact("wmA"); len(got.Follow) != 1 || got.Follow[0].State != "ch-9" {
		t.Fatalf("contact = %+v", got)
	}
	msg := wecom.WelcomeMsg{WelcomeCode: code, Text: &wecom.WelcomeText{Content: "你好阿朱"}}
	tooMany := msg
	for range 10 {
		tooMany.Attachments = append(tooMany.Attachments, wecom.WelcomeAttachment{MsgType: "link", Link: &wecom.WelcomeLink{Title: "t", URL: "https://e.x"}})
	}
	if err := c.SendWelcomeMsg(ctx, tooMany); wecom.APIErrorCode(err) != 40058 {
		t.Fatalf("10 attachments: %v, want 40058", err)
	}
	withMedia := msg
	withMedia.Attachments = []wecom.WelcomeAttachment{{MsgType: "image", Image: &wecom.WelcomeImage{MediaID: "never-uploaded"}}}
	if err := c.SendWelcomeMsg(ctx, withMedia); wecom.APIErrorCode(err) != 40007 {
		t.Fatalf("an unknown media_id: %v, want 40007", err)
	}
	// 41096 (another app sending) is retried; the code is still good.
	sim.Fail("externalcontact/send_welcome_msg", wecom.ErrCodeWelcomeBusy, 2)
	if err := c.SendWelcomeMsg(ctx, msg); err != nil {
		t.Fatalf("SendWelcomeMsg after 41096: %v", err)
	}
	if err := c.SendWelcomeMsg(ctx, msg); wecom.APIErrorCode(err) != wecom.ErrCodeWelcomeUsed {
		t.Fatalf("the second send: %v, want 41051", err)
	}
	if ws := sim.Welcomes(); len(ws) != 1 || ws[0].Text != "你好阿朱" || ws[0].ExternalUserID != "wmA" || ws[0].UserID != "u01" {
		t.Fatalf("welcomes = %+v", ws)
	}
	late := sim.IssueWelcomeCode("u01", "wmA")
	clock.Advance(wecomtest.WelcomeCodeTTL + time.Second)
	if err := c.SendWelcomeMsg(ctx, wecom.WelcomeMsg{WelcomeCode: late, Text: &wecom.WelcomeText{Content: "迟到"}}); wecom.APIErrorCode(err) != wecom.ErrCodeWelcomeUsed {
		t.Fatalf("an expired code: %v, want 41051", err)
	}
}

func TestMediaUploadLapsesAfter3Days(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 1)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	if _, _, err := c.UploadMedia(ctx, "image", "big.png", make([]byte, 10<<20+1)); wecom.APIErrorCode(err) != 40006 {
		t.Fatalf("an 10 MB + 1 image: %v, want 40006", err)
	}
	if _, _, err := c.UploadMedia(ctx, "gif", "a.gif", []byte("0123456789")); wecom.APIErrorCode(err) != 40004 {
		t.Fatalf("an unknown type: %v, want 40004", err)
	}
	id, expires, err := c.UploadMedia(ctx, "image", "a.png", []byte("0123456789"))
	if err != nil || id == "" || !expires.Equal(clock.Now().Add(wecom.MediaLifetime)) {
		t.Fatalf("UploadMedia = %q, %v, %v", id, expires, err)
	}
	send := func() error {
		code := sim.IssueWelcomeCode("u00", "wmB")
		return c.SendWelcomeMsg(ctx, wecom.WelcomeMsg{WelcomeCode: code,
			Attachments: []wecom.WelcomeAttachment{{MsgType: "image", Image: &wecom.WelcomeImage{MediaID: id}}}})
	}
	if err := send(); err != nil {
		t.Fatalf("welcome with fresh media: %v", err)
	}
	clock.Advance(wecom.MediaLifetime + time.Minute)
	if err := send(); wecom.APIErrorCode(err) != 40007 {
		t.Fatalf("welcome with lapsed media: %v, want 40007", err)
	}
}

func TestJoinWayAndOAQRCode(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	var chats []string
	for range 6 {
		id, _ := sim.AddGroupChat(wecomtest.GroupChat{Name: "群", Owner: "u00"})
		chats = append(chats, id)
	}
	if _, err := c.AddJoinWay(ctx, wecom.JoinWay{Scene: 2, ChatIDList: chats, State: "g1"}); wecom.APIErrorCode(err) != 40058 {
		t.Fatalf("6 groups: %v, want 40058", err)
	}
	if _, err := c.AddJoinWay(ctx, wecom.JoinWay{Scene: 2, ChatIDList: []string{"nochat"}, State: "g1"}); wecom.APIErrorCode(err) != 40050 {
		t.Fatalf("an unknown group: %v, want 40050", err)
	}
	id, err := c.AddJoinWay(ctx, wecom.JoinWay{Scene: 2, ChatIDList: chats[:5], State: "g1", AutoCreateRoom: 1, RoomBaseName: "福利群"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.GetJoinWay(ctx, id)
	if err != nil || w.QRCode == "" || len(w.ChatIDList) != 5 || w.State != "g1" || w.AutoCreateRoom != 1 {
		t.Fatalf("GetJoinWay = %+v, %v", w, err)
	}
	ev := sim.JoinViaJoinWay(id, wecomtest.GroupMember{UserID: "wmJoin"})
	if ev.Field("State") != "g1" || ev.Field("JoinScene") != "3" || ev.Field("ChatId") != chats[0] {
		t.Fatalf("join event = %s", ev.XML(wecomtest.SimCorpID, ""))
	}

	ticket, u, err := c.CreateOAQRCode(ctx, "ch-oa-1")
	if err != nil || ticket == "" || u == "" {
		t.Fatalf("CreateOAQRCode = %q, %q, %v", ticket, u, err)
	}
	if scene, ok := sim.OAQRScene(ticket); !ok || scene != "ch-oa-1" {
		t.Fatalf("scene = %q", scene)
	}
	if _, _, err := c.CreateOAQRCode(ctx, strings.Repeat("x", 65)); err == nil {
		t.Fatal("a 65-character scene was accepted")
	}
}
