package wecom_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func TestGetGroupChat(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 2)
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmWang", Name: "王语嫣", UnionID: "unWang"})
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	created := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	chatID, ev := sim.AddGroupChat(wecomtest.GroupChat{Name: "销售客服群", Owner: "u00", Notice: "文明沟通", CreateTime: created,
		Admins: []string{"u01"}, Members: []wecomtest.GroupMember{
			{UserID: "u01", Invitor: "u00", Nickname: "客服小张"},
			{UserID: "wmWang", JoinTime: created.Add(time.Minute), JoinScene: 3, Nickname: "顾客老王"},
		}})
	if ev.Field("ChangeType") != "create" || ev.Field("ChatId") != chatID {
		t.Errorf("create event = %s", ev.XML(wecomtest.SimCorpID, ""))
	}
	g, err := c.GetGroupChat(ctx, chatID)
	if err != nil {
		t.Fatal(err)
	}
	if g.ChatID != chatID || g.Name != "销售客服群" || g.Owner != "u00" || g.Notice != "文明沟通" || g.CreateTime != created.Unix() ||
		g.MemberVersion == "" || len(g.AdminList) != 1 || g.AdminList[0].UserID != "u01" {
		t.Errorf("group chat = %+v", g)
	}
	want := []wecom.GroupChatMember{
		{UserID: "u00", Type: 1, JoinTime: int(created.Unix()), JoinScene: 1, Name: "员工0"},
		{UserID: "u01", Type: 1, JoinTime: int(created.Unix()), JoinScene: 1, Invitor: wecomInvitor("u00"), GroupNickname: "客服小张", Name: "员工1"},
		{UserID: "wmWang", Type: 2, JoinTime: int(created.Add(time.Minute).Unix()), JoinScene: 3, GroupNickname: "顾客老王", Name: "王语嫣", UnionID: "unWang"},
	}
	if !slices.Equal(g.MemberList, want) {
		t.Errorf("members = %+v\nwant %+v", g.MemberList, want)
	}
	// Only the 客户联系 secret's token was needed.
	if n := sim.GetTokenCalls(wecomtest.SecretContact); n != 1 {
		t.Errorf("contact token fetched %d times, want 1", n)
	}

	// A member change moves member_version, and the event names the members.
	before := g.MemberVersion
	ev = sim.JoinGroupChat(chatID, 3, wecomtest.GroupMember{UserID: "wmNew"})
	parsed, err := wecom.ParseWeCom(ev.XML(wecomtest.SimCorpID, ""))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Kind != "event.change_external_chat.update" || parsed.Attrs["UpdateDetail"] != "add_member" ||
		parsed.Attrs["MemChangeList"] != "wmNew" || parsed.Attrs["JoinScene"] != "3" || parsed.Attrs["LastMemVer"] != before {
		t.Errorf("add_member event = %+v", parsed)
	}
	if g, err = c.GetGroupChat(ctx, chatID); err != nil || g.MemberVersion != parsed.Attrs["CurMemVer"] || len(g.MemberList) != 4 {
		t.Errorf("after the join: %+v, %v", g, err)
	}

	// Dismissed and unknown groups answer 90501.
	sim.DismissGroupChat(chatID)
	for _, id := range []string{chatID, "wrNoSuchChat"} {
		_, err := c.GetGroupChat(ctx, id)
		if code := wecom.APIErrorCode(err); code != 90501 {
			t.Errorf("GetGroupChat(%s) = %v, want errcode 90501", id, err)
		}
	}
	if _, err := c.GetGroupChat(ctx, ""); err == nil {
		t.Error("GetGroupChat without a chat id succeeded")
	}
}

func wecomInvitor(id string) wecom.GroupChatInvitor { return wecom.GroupChatInvitor{UserID: id} }

func TestListGroupChats(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 3)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	var all, ofU01 []string
	for i := range 7 {
		owner := fmt.Sprintf("u%02d", i%3)
		id, _ := sim.AddGroupChat(wecomtest.GroupChat{Name: fmt.Sprintf("群%d", i), Owner: owner})
		all = append(all, id)
		if owner == "u01" {
			ofU01 = append(ofU01, id)
		}
	}
	sim.DismissGroupChat(all[6])
	live := all[:6]
	walk := func(owners []string, limit int) []string {
		t.Helper()
		var got []string
		cursor := ""
		for range 20 {
			page, err := c.ListGroupChats(ctx, owners, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Chats {
				if r.Status != 0 {
					t.Errorf("chat %s status %d", r.ChatID, r.Status)
				}
				got = append(got, r.ChatID)
			}
			if page.NextCursor == "" {
				return got
			}
			cursor = page.NextCursor
		}
		t.Fatal("paging does not end")
		return nil
	}
	if got := walk(nil, 0); !slices.Equal(got, live) {
		t.Errorf("all groups = %v, want %v", got, live)
	}
	if got := walk(nil, 4); !slices.Equal(got, live) {
		t.Errorf("all groups in pages of 4 = %v, want %v", got, live)
	}
	if got := walk([]string{"u01"}, 1); !slices.Equal(got, ofU01) {
		t.Errorf("u01's groups = %v, want %v", got, ofU01)
	}
	many := make([]string, 101)
	if _, err := c.ListGroupChats(ctx, many, "", 10); err == nil {
		t.Error("101 owners accepted")
	}
	if _, err := c.ListGroupChats(ctx, nil, "not-a-cursor", 10); !errors.As(err, new(*wecom.APIError)) {
		t.Errorf("a bad cursor = %v, want an API error", err)
	}
}
