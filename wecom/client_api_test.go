package wecom_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func TestAppMessageKinds(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 3)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		send    func() (*wecom.SendResult, error)
		msgType string
		content string
	}{
		{"text", func() (*wecom.SendResult, error) { return c.SendText(ctx, to("u00"), "你好") }, "text", "你好"},
		{"markdown", func() (*wecom.SendResult, error) {
			return c.SendMarkdown(ctx, to("u00"), `<font color="warning">3 位客户</font>待回访`)
		}, "markdown", `<font color="warning">3 位客户</font>待回访`},
		{"textcard", func() (*wecom.SendResult, error) {
			return c.SendTextCard(ctx, to("u00"), wecom.TextCard{Title: "回访提醒", Description: "张先生 14:00", URL: "https://example.com/c/1"})
		}, "textcard", "回访提醒\n张先生 14:00"},
		{"template card", func() (*wecom.SendResult, error) {
			return c.SendTemplateCard(ctx, to("u00"), wecom.TemplateCard{
				CardType:  "button_interaction",
				MainTitle: &wecom.CardTitle{Title: "客户跟进", Desc: "王女士"},
				TaskID:    "task-1",
				ButtonList: []wecom.CardButton{
					{Text: "已联系", Key: "done"}, {Text: "推迟", Key: "snooze", Style: 2},
				},
			})
		}, "template_card", "客户跟进\n王女士"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(sim.SentTo("u00"))
			res, err := tc.send()
			if err != nil {
				t.Fatal(err)
			}
			if res.MsgID == "" {
				t.Error("no msgid")
			}
			got := sim.SentTo("u00")
			if len(got) != before+1 {
				t.Fatalf("delivered %d, want %d", len(got), before+1)
			}
			m := got[len(got)-1]
			if m.MsgType != tc.msgType || m.Content != tc.content || m.From != wecomtest.SimAgentID {
				t.Errorf("delivered %+v, want type %s content %q", m, tc.msgType, tc.content)
			}
		})
	}
	t.Run("several members, one invalid", func(t *testing.T) {
		res, err := c.SendText(ctx, wecom.SendTarget{ToUser: []string{"u01", "u02", "ghost"}}, "群发")
		if err != nil {
			t.Fatal(err)
		}
		if res.InvalidUser != "ghost" {
			t.Errorf("InvalidUser = %q", res.InvalidUser)
		}
		if len(sim.SentTo("u01")) != 1 || len(sim.SentTo("u02")) != 1 {
			t.Error("u01/u02 did not receive")
		}
	})
	t.Run("all recipients invalid", func(t *testing.T) {
		_, err := c.SendText(ctx, to("ghost"), "x")
		if wecom.APIErrorCode(err) != 81013 {
			t.Errorf("err = %v, want 81013", err)
		}
	})
	t.Run("department", func(t *testing.T) {
		before := len(sim.Sent())
		if _, err := c.SendText(ctx, wecom.SendTarget{ToParty: []string{"1"}}, "全部门"); err != nil {
			t.Fatal(err)
		}
		if got := len(sim.Sent()) - before; got != 3 {
			t.Errorf("department send reached %d members, want 3", got)
		}
	})
}

func seedCorp(sim *wecomtest.Simulator) (vip, hot string) {
	sim.AddStaff(wecomtest.Staff{UserID: "manager", Name: "李经理", Department: []int{1}, IsLeader: true})
	sim.AddStaff(wecomtest.Staff{UserID: "sales1", Name: "王销售", Department: []int{2}})
	_, vip = sim.AddTag("客户等级", "VIP")
	_, hot = sim.AddTag("意向", "高意向")
	for i := range 5 {
		sim.AddExternalContact(wecomtest.Contact{
			ExternalUserID: fmt.Sprintf("wm%02d", i), Name: fmt.Sprintf("客户%d", i), UnionID: fmt.Sprintf("union%02d", i),
			Follow: []wecomtest.Follow{{UserID: "sales1", Remark: "老客户", State: "expo2025", TagIDs: []string{vip},
				CreateTime: time.Unix(1700000000+int64(i), 0)}},
		})
	}
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmshared", Name: "共享客户", Follow: []wecomtest.Follow{
		{UserID: "sales1", TagIDs: []string{hot}}, {UserID: "manager"},
	}})
	return vip, hot
}

func TestExternalContacts(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	vip, hot := seedCorp(sim)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()

	t.Run("get", func(t *testing.T) {
		info, err := c.GetExternalContact(ctx, "wm00")
		if err != nil {
			t.Fatal(err)
		}
		if info.Contact.Name != "客户0" || info.Contact.UnionID != "union00" {
			t.Errorf("contact = %+v", info.Contact)
		}
		if len(info.FollowUsers) != 1 {
			t.Fatalf("follow users = %+v", info.FollowUsers)
		}
		f := info.FollowUsers[0]
		if f.UserID != "sales1" || f.State != "expo2025" || f.Remark != "老客户" || f.CreateTime != 1700000000 {
			t.Errorf("follow user = %+v", f)
		}
		if len(f.Tags) != 1 || f.Tags[0].TagID != vip || f.Tags[0].TagName != "VIP" || f.Tags[0].GroupName != "客户等级" {
			t.Errorf("tags = %+v", f.Tags)
		}
		shared, err := c.GetExternalContact(ctx, "wmshared")
		if err != nil || len(shared.FollowUsers) != 2 {
			t.Errorf("shared contact: %+v, %v", shared, err)
		}
	})
	t.Run("get unknown", func(t *testing.T) {
		_, err := c.GetExternalContact(ctx, "nobody")
		if wecom.APIErrorCode(err) != 84061 {
			t.Errorf("err = %v, want 84061", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		ids, err := c.ListExternalContacts(ctx, "sales1")
		if err != nil || len(ids) != 6 {
			t.Errorf("list = %v, %v", ids, err)
		}
		if _, err := c.ListExternalContacts(ctx, "nobody"); wecom.APIErrorCode(err) != 60111 {
			t.Errorf("unknown staff: err = %v, want 60111", err)
		}
		sim.AddStaff(wecomtest.Staff{UserID: "newbie"})
		if ids, err := c.ListExternalContacts(ctx, "newbie"); err != nil || len(ids) != 0 {
			t.Errorf("member without customers: %v, %v", ids, err)
		}
	})
	t.Run("batch pages", func(t *testing.T) {
		var all []wecom.BatchContact
		cursor, pages := "", 0
		for {
			page, err := c.BatchGetByUser(ctx, []string{"sales1", "manager"}, cursor, 2)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			all = append(all, page.Contacts...)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(all) != 7 || pages != 4 {
			t.Errorf("got %d pairs in %d pages, want 7 in 4", len(all), pages)
		}
		if all[0].FollowInfo.State != "expo2025" || !slices.Equal(all[0].FollowInfo.TagIDs, []string{vip}) {
			t.Errorf("first pair = %+v", all[0])
		}
	})
	t.Run("tags", func(t *testing.T) {
		groups, err := c.GetCorpTagList(ctx, nil, nil)
		if err != nil || len(groups) != 2 {
			t.Fatalf("groups = %+v, %v", groups, err)
		}
		g, err := c.AddCorpTag(ctx, wecom.AddCorpTagRequest{GroupName: "意向", Tags: []wecom.CorpTagItem{{Name: "中意向"}, {Name: "低意向"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Tag) != 2 || g.GroupName != "意向" || g.Tag[0].ID == "" {
			t.Fatalf("added = %+v", g)
		}
		_, err = c.AddCorpTag(ctx, wecom.AddCorpTagRequest{GroupName: "意向", Tags: []wecom.CorpTagItem{{Name: "高意向"}}})
		if wecom.APIErrorCode(err) != 40071 {
			t.Errorf("duplicate tag: err = %v, want 40071", err)
		}
		only, err := c.GetCorpTagList(ctx, []string{hot}, nil)
		if err != nil || len(only) != 1 || len(only[0].Tag) != 1 || only[0].Tag[0].Name != "高意向" {
			t.Errorf("filtered = %+v, %v", only, err)
		}
		if err := c.DelCorpTag(ctx, []string{g.Tag[1].ID}, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.DelCorpTag(ctx, []string{"nope"}, nil); wecom.APIErrorCode(err) != 40068 {
			t.Errorf("delete unknown: err = %v, want 40068", err)
		}
		groups, _ = c.GetCorpTagList(ctx, nil, nil)
		if n := len(groups[1].Tag); n != 2 {
			t.Errorf("意向 has %d tags after delete, want 2", n)
		}
	})
	t.Run("mark tag", func(t *testing.T) {
		if err := c.MarkTag(ctx, "sales1", "wm01", []string{hot}, []string{vip}); err != nil {
			t.Fatal(err)
		}
		got, _ := sim.ExternalContact("wm01")
		if !slices.Equal(got.Follow[0].TagIDs, []string{hot}) {
			t.Errorf("tags after mark = %v, want [%s]", got.Follow[0].TagIDs, hot)
		}
		if err := c.MarkTag(ctx, "manager", "wm01", []string{hot}, nil); wecom.APIErrorCode(err) != 84061 {
			t.Errorf("not a follower: err = %v, want 84061", err)
		}
	})
	t.Run("contact secret used", func(t *testing.T) {
		if n := sim.GetTokenCalls(wecomtest.SecretContact); n != 1 {
			t.Errorf("contact gettoken calls = %d, want 1", n)
		}
		if n := sim.GetTokenCalls(wecomtest.SecretApp); n != 0 {
			t.Errorf("app gettoken calls = %d, want 0", n)
		}
	})
}

func TestMarkTagStaysWithinFiveConcurrent(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	_, hot := seedCorp(sim)
	sim.SetLatency("externalcontact/mark_tag", 20*time.Millisecond)
	c := newClient(t, testConfig(sim), nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := c.MarkTag(t.Context(), "sales1", fmt.Sprintf("wm%02d", i%5), []string{hot}, nil); err != nil {
				t.Errorf("mark %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := sim.MaxConcurrent("externalcontact/mark_tag"); got > 5 || got < 2 {
		t.Errorf("max concurrent mark_tag = %d, want 2..5", got)
	}
	if got := sim.Calls("externalcontact/mark_tag"); got != 20 {
		t.Errorf("mark_tag calls = %d, want 20 (no 45033 retries)", got)
	}
}

func TestContactSecretFallsBackToAppSecret(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	seedCorp(sim)
	cfg := testConfig(sim)
	cfg.ContactSecret = ""
	c := newClient(t, cfg, nil)
	if _, err := c.GetExternalContact(t.Context(), "wm00"); err != nil {
		t.Fatal(err)
	}
	if sim.GetTokenCalls(wecomtest.SecretApp) != 1 || sim.GetTokenCalls(wecomtest.SecretContact) != 0 {
		t.Error("want the app secret's token")
	}
}

func TestKF(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	sim.AddKFAccount("wkA", "售前咨询")
	var token string
	for i := range 5 {
		token = sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkA", ExternalUserID: "wmkf1", Content: fmt.Sprintf("问题%d", i)})
	}
	sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkA", ExternalUserID: "wmkf2", MsgType: "event", EventType: "enter_session"})

	t.Run("pages", func(t *testing.T) {
		var msgs []wecom.KFMessage
		cursor := ""
		for range 10 {
			page, err := c.KFSyncMsg(ctx, cursor, token, 2, "wkA")
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, page.Messages...)
			cursor = page.NextCursor
			if !page.HasMore {
				break
			}
		}
		if len(msgs) != 6 {
			t.Fatalf("got %d messages, want 6", len(msgs))
		}
		if msgs[0].Text != "问题0" || msgs[0].ExternalUserID != "wmkf1" || msgs[0].Origin != 3 || msgs[0].SendTime.IsZero() {
			t.Errorf("first = %+v", msgs[0])
		}
		if ev := msgs[5]; ev.MsgType != "event" || ev.EventType != "enter_session" || ev.ExternalUserID != "wmkf2" || ev.OpenKfID != "wkA" {
			t.Errorf("event = %+v", ev)
		}
		// The persisted cursor resumes after everything seen.
		page, err := c.KFSyncMsg(ctx, cursor, token, 100, "wkA")
		if err != nil || len(page.Messages) != 0 || page.HasMore {
			t.Errorf("after the end: %+v, %v", page, err)
		}
	})
	t.Run("empty page with has_more", func(t *testing.T) {
		sim.KFEmptyPages(1)
		page, err := c.KFSyncMsg(ctx, "", token, 10, "")
		if err != nil || len(page.Messages) != 0 || !page.HasMore {
			t.Errorf("page = %+v, %v", page, err)
		}
	})
	t.Run("invalid token keeps its errcode", func(t *testing.T) {
		_, err := c.KFSyncMsg(ctx, "", "bogus", 10, "")
		var ae *wecom.APIError
		if !errors.As(err, &ae) || ae.Code != 95007 || ae.API != "kf/sync_msg" {
			t.Errorf("err = %v, want *APIError 95007", err)
		}
	})
	t.Run("send within the window", func(t *testing.T) {
		for i := range 5 {
			id, err := c.KFSendMsg(ctx, wecom.KFOutgoing{ToUser: "wmkf1", OpenKfID: "wkA", Text: fmt.Sprintf("回复%d", i)})
			if err != nil || id == "" {
				t.Fatalf("send %d: %q, %v", i, id, err)
			}
		}
		_, err := c.KFSendMsg(ctx, wecom.KFOutgoing{ToUser: "wmkf1", OpenKfID: "wkA", Text: "第六条"})
		if !errors.Is(err, wecom.ErrAPIOutsideWindow) {
			t.Errorf("6th send: err = %v, want ErrAPIOutsideWindow", err)
		}
		if got := sim.SentTo("wmkf1"); len(got) != 5 || got[0].Channel != wecomtest.SentKF || got[0].Content != "回复0" {
			t.Errorf("kf deliveries = %+v", got)
		}
	})
}

func TestOfficialAccount(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 5, 9, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 0)
	sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oA", UnionID: "unionA", Nickname: "小王"})
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()

	t.Run("user info", func(t *testing.T) {
		u, err := c.OAGetUserInfo(ctx, "oA")
		if err != nil || u.UnionID != "unionA" || u.Nickname != "小王" || u.Subscribe != 1 {
			t.Errorf("user = %+v, %v", u, err)
		}
		if _, err := c.OAGetUserInfo(ctx, "nobody"); wecom.APIErrorCode(err) != 40003 {
			t.Errorf("unknown: err = %v, want 40003", err)
		}
	})
	t.Run("window closed", func(t *testing.T) {
		err := c.OASendCustomText(ctx, "oA", "你好")
		if !errors.Is(err, wecom.ErrAPIOutsideWindow) || wecom.APIErrorCode(err) != 45015 {
			t.Errorf("err = %v, want 45015", err)
		}
	})
	t.Run("five within 48h", func(t *testing.T) {
		sim.OAUserMessaged("oA", clock.Now())
		for i := range 5 {
			if err := c.OASendCustomText(ctx, "oA", fmt.Sprintf("回复%d", i)); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if err := c.OASendCustomText(ctx, "oA", "x"); wecom.APIErrorCode(err) != 45047 {
			t.Errorf("6th: err = %v, want 45047", err)
		}
		sim.OAUserMessaged("oA", clock.Now())
		clock.Advance(49 * time.Hour)
		if err := c.OASendCustomText(ctx, "oA", "x"); wecom.APIErrorCode(err) != 45015 {
			t.Errorf("after 48h: err = %v, want 45015", err)
		}
	})
	t.Run("token refresh uses OA semantics", func(t *testing.T) {
		calls := sim.GetTokenCalls(wecomtest.SecretOA)
		sim.ExpireTokens()
		if _, err := c.OAGetUserInfo(ctx, "oA"); err != nil {
			t.Fatal(err)
		}
		if got := sim.GetTokenCalls(wecomtest.SecretOA) - calls; got != 1 {
			t.Errorf("OA token calls = %d, want 1", got)
		}
		// On the OA, 40001 from an API (not /token) means a stale token.
		sim.Fail("user/info", 40001, 1)
		if _, err := c.OAGetUserInfo(ctx, "oA"); err != nil {
			t.Fatalf("after 40001: %v", err)
		}
		if got := sim.GetTokenCalls(wecomtest.SecretOA) - calls; got != 2 {
			t.Errorf("OA token calls = %d, want 2", got)
		}
	})
}
