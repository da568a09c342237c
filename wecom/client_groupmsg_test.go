package wecom_test

import (
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestGroupMassMessage: a group message (chat_type group) goes out through
// the groups' owner: groups the sender does not own, or that are
// dismissed, come back in fail_list, none left is 41048; the results are
// per group (chat_id), a group dismissed before the owner sends gets
// status 2, and a group already at its monthly cap gets status 3; the
// message is listed under chat_type group only.
func TestGroupMassMessage(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2025, 2, 10, 2, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 2) // u00, u01
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmC1", Name: "客户1", Follow: []wecomtest.Follow{{UserID: "u00"}}})
	member := wecomtest.GroupMember{UserID: "wmC1"}
	own1, _ := sim.AddGroupChat(wecomtest.GroupChat{Name: "一群", Owner: "u00", Members: []wecomtest.GroupMember{member}})
	own2, _ := sim.AddGroupChat(wecomtest.GroupChat{Name: "二群", Owner: "u00", Members: []wecomtest.GroupMember{member}})
	gone, _ := sim.AddGroupChat(wecomtest.GroupChat{Name: "三群", Owner: "u00"})
	sim.DismissGroupChat(gone)
	other, _ := sim.AddGroupChat(wecomtest.GroupChat{Name: "别人的群", Owner: "u01"})

	if _, _, err := c.AddMsgTemplate(ctx, wecom.MsgTemplate{ChatType: "group", Sender: "u00", Text: &wecom.WelcomeText{Content: "x"}}); wecom.APIErrorCode(err) != 40058 {
		t.Fatalf("no groups named: %v, want 40058", err)
	}
	if _, _, err := c.AddMsgTemplate(ctx, wecom.MsgTemplate{ChatType: "group", Sender: "u00", ChatIDList: []string{other, gone},
		Text: &wecom.WelcomeText{Content: "x"}}); wecom.APIErrorCode(err) != 41048 {
		t.Fatalf("only groups the sender cannot reach: %v, want 41048", err)
	}
	sim.SetGroupMsgMonthlyCap(1)
	msgID, fail, err := c.AddMsgTemplate(ctx, wecom.MsgTemplate{ChatType: "group", Sender: "u00", ChatIDList: []string{own1, other, gone, own2},
		Text: &wecom.WelcomeText{Content: "大家好"}})
	if err != nil || msgID == "" {
		t.Fatalf("AddMsgTemplate = %q, %v", msgID, err)
	}
	if slices.Sort(fail); !slices.Equal(fail, sortedOf(other, gone)) {
		t.Fatalf("fail_list %v, want the other owner's group and the dismissed one", fail)
	}
	// own2 reached its monthly cap through another message already.
	earlier, _, err := c.AddMsgTemplate(ctx, wecom.MsgTemplate{ChatType: "group", Sender: "u00", ChatIDList: []string{own2}, Text: &wecom.WelcomeText{Content: "早先"}})
	if err != nil || !sim.ConfirmGroupMsg(earlier) {
		t.Fatalf("earlier message: %v", err)
	}
	clock.Advance(time.Hour)
	sim.DismissGroupChat(own1)
	if !sim.ConfirmGroupMsg(msgID) {
		t.Fatal("the owner could not send it")
	}
	res, err := c.GroupMsgSendResults(ctx, msgID, "u00")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range res {
		if r.ExternalUserID != "" {
			t.Errorf("a group result names a customer: %+v", r)
		}
		got[r.ChatID] = r.Status
	}
	if len(got) != 2 || got[own1] != 2 || got[own2] != 3 {
		t.Fatalf("results %v, want %s dismissed (2) and %s over its cap (3)", got, own1, own2)
	}
	tasks, err := c.GroupMsgTasks(ctx, msgID)
	if err != nil || len(tasks) != 1 || tasks[0].UserID != "u00" || tasks[0].Status != 2 {
		t.Fatalf("tasks %+v, %v", tasks, err)
	}
	from, to := clock.Now().Add(-2*time.Hour), clock.Now()
	if list, err := c.GroupMsgList(ctx, "group", "u00", from, to); err != nil || len(list) != 2 {
		t.Fatalf("group messages of u00: %+v, %v", list, err)
	}
	if list, err := c.GroupMsgList(ctx, "single", "u00", from, to); err != nil || len(list) != 0 {
		t.Fatalf("single messages of u00: %+v, %v", list, err)
	}
}

func sortedOf(s ...string) []string {
	slices.Sort(s)
	return s
}
