package storetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

var channelTests = []crmTest{
	{"CreateFindUpdate", testChannelCRUD},
	{"StateUniqueForEver", testChannelStateUnique},
	{"Validation", testChannelValidation},
	{"Events", testChannelEvents},
}

func sampleChannel(id, state string, at time.Time) *store.Channel {
	return &store.Channel{
		ID: id, Name: "海报 " + id, Kind: store.ChannelKindContactWay,
		Staff: []store.ChannelStaff{{UserID: "zhang", Schedule: []store.Shift{{Weekdays: []int{1, 2, 3}, Start: "09:00", End: "18:00"}}},
			{UserID: "li"}},
		Backup: []string{"wang"}, DailyCap: 50, SkipVerify: true, Tags: []string{"展会"},
		Welcome: store.Welcome{Text: "你好 #客户昵称#", Attachments: []store.WelcomeAttachment{
			{Type: "link", Title: "官网", URL: "https://example.com"},
			{Type: "image", Name: "a.png", Data: []byte{0x89, 'P', 'N', 'G'}},
		}},
		ConfigID: "cfg-" + id, State: state, QRCode: "https://qr.example/" + id,
		CreatedAt: at, UpdatedAt: at,
	}
}

func testChannelCRUD(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	a := sampleChannel("c1", "s-c1", base)
	b := sampleChannel("c2", "s-c2", base.Add(time.Minute))
	b.Kind = store.ChannelKindJoinWay
	b.ChatIDs, b.AutoCreateRoom = []string{"wr1", "wr2"}, true
	for _, c := range []*store.Channel{b, a} {
		if err := s.CreateChannel(ctx, c); err != nil {
			t.Fatalf("CreateChannel(%s): %v", c.ID, err)
		}
	}
	got, err := s.FindChannelByID(ctx, "c1")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("FindChannelByID = %+v, %v; want %+v", got, err, a)
	}
	got, err = s.FindChannelByState(ctx, "s-c2")
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("FindChannelByState = %+v, %v; want %+v", got, err, b)
	}
	if _, err := s.FindChannelByID(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FindChannelByID(nope) = %v, want ErrNotFound", err)
	}
	list, err := s.FindChannels(ctx, store.ChannelFilter{})
	if err != nil || len(list) != 2 || list[0].ID != "c1" || list[1].ID != "c2" {
		t.Fatalf("FindChannels = %v, %v; want c1, c2 by creation", channelIDs(list), err)
	}
	list, _ = s.FindChannels(ctx, store.ChannelFilter{Kind: store.ChannelKindJoinWay})
	if len(list) != 1 || list[0].ID != "c2" {
		t.Fatalf("FindChannels(join_way) = %v", channelIDs(list))
	}

	a.Name, a.Tags, a.UpdatedAt = "改名", []string{"新客"}, base.Add(time.Hour)
	if err := s.UpdateChannel(ctx, a); err != nil {
		t.Fatalf("UpdateChannel: %v", err)
	}
	if got, _ := s.FindChannelByID(ctx, "c1"); !reflect.DeepEqual(got, a) {
		t.Fatalf("after update %+v, want %+v", got, a)
	}
	moved := *a
	moved.State = "other"
	if err := s.UpdateChannel(ctx, &moved); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateChannel with another state = %v, want ErrNotFound", err)
	}

	if err := s.DeleteChannel(ctx, "c1", base.Add(2*time.Hour).In(cst)); err != nil {
		t.Fatalf("DeleteChannel: %v", err)
	}
	if err := s.DeleteChannel(ctx, "c1", base.Add(3*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteChannel again = %v, want ErrNotFound", err)
	}
	if err := s.UpdateChannel(ctx, a); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateChannel of a deleted channel = %v, want ErrNotFound", err)
	}
	got, err = s.FindChannelByState(ctx, "s-c1")
	if err != nil || got.DeletedAt == nil || !got.DeletedAt.Equal(base.Add(2*time.Hour)) || got.DeletedAt.Location() != time.UTC {
		t.Fatalf("deleted channel = %+v, %v; want DeletedAt in UTC", got, err)
	}
	list, _ = s.FindChannels(ctx, store.ChannelFilter{})
	if len(list) != 1 || list[0].ID != "c2" {
		t.Fatalf("FindChannels after delete = %v, want c2", channelIDs(list))
	}
	list, _ = s.FindChannels(ctx, store.ChannelFilter{IncludeDeleted: true})
	if len(list) != 2 {
		t.Fatalf("FindChannels(IncludeDeleted) = %v, want both", channelIDs(list))
	}
}

func channelIDs(cs []*store.Channel) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return strings.Join(out, ",")
}

func testChannelStateUnique(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	if err := s.CreateChannel(ctx, sampleChannel("c1", "s1", base)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChannel(ctx, sampleChannel("c2", "s1", base)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a taken state = %v, want ErrConflict", err)
	}
	if err := s.CreateChannel(ctx, sampleChannel("c1", "s2", base)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a taken id = %v, want ErrConflict", err)
	}
	if err := s.DeleteChannel(ctx, "c1", base); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChannel(ctx, sampleChannel("c3", "s1", base)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a deleted channel's state = %v, want ErrConflict", err)
	}
}

func testChannelValidation(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	long := sampleChannel("c1", strings.Repeat("渠", 31), base)
	noName := sampleChannel("c2", "s2", base)
	noName.Name = ""
	badKind := sampleChannel("c3", "s3", base)
	badKind.Kind = "poster"
	many := sampleChannel("c4", "s4", base)
	for range 10 {
		many.Welcome.Attachments = append(many.Welcome.Attachments, store.WelcomeAttachment{Type: "link"})
	}
	for _, c := range []*store.Channel{long, noName, badKind, many} {
		if err := s.CreateChannel(ctx, c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateChannel(%s) = %v, want ErrInvalid", c.ID, err)
		}
	}
	ok := sampleChannel("c5", strings.Repeat("渠", 30), base)
	if err := s.CreateChannel(ctx, ok); err != nil {
		t.Errorf("a 30-character state: %v", err)
	}
}

func testChannelEvents(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	evs := []store.ChannelEvent{
		{Key: "k3", ChannelID: "c1", Kind: store.ChannelEventDelete, CustomerID: "cu1", StaffID: "zhang", At: base.Add(3 * time.Hour)},
		{Key: "k1", ChannelID: "c1", Kind: store.ChannelEventAdd, CustomerID: "cu1", StaffID: "zhang", At: base.In(cst)},
		{Key: "k2", ChannelID: "c1", Kind: store.ChannelEventAdd, CustomerID: "cu2", StaffID: "li", At: base.Add(time.Hour)},
		{Key: "k4", ChannelID: "c2", Kind: store.ChannelEventAdd, CustomerID: "cu1", StaffID: "li", At: base.Add(2 * time.Hour)},
	}
	for _, e := range evs {
		if ok, err := s.RecordChannelEvent(ctx, e); !ok || err != nil {
			t.Fatalf("RecordChannelEvent(%s) = %v, %v", e.Key, ok, err)
		}
	}
	again := evs[1]
	again.ChannelID = "c9"
	if ok, err := s.RecordChannelEvent(ctx, again); ok || err != nil {
		t.Fatalf("recording a key again = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.RecordChannelEvent(ctx, store.ChannelEvent{Key: "x", ChannelID: "c1", Kind: "add"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("an event without customer = %v, want ErrInvalid", err)
	}
	keys := func(f store.ChannelEventFilter) string {
		t.Helper()
		got, err := s.FindChannelEvents(ctx, f)
		if err != nil {
			t.Fatalf("FindChannelEvents(%+v): %v", f, err)
		}
		var out []string
		for _, e := range got {
			if e.At.Location() != time.UTC {
				t.Errorf("event %s at %v, want UTC", e.Key, e.At)
			}
			out = append(out, e.Key)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		f    store.ChannelEventFilter
		want string
	}{
		{store.ChannelEventFilter{}, "k1,k2,k4,k3"},
		{store.ChannelEventFilter{ChannelID: "c1"}, "k1,k2,k3"},
		{store.ChannelEventFilter{CustomerID: "cu1"}, "k1,k4,k3"},
		{store.ChannelEventFilter{ChannelID: "c1", Kind: store.ChannelEventAdd}, "k1,k2"},
		{store.ChannelEventFilter{StaffID: "li"}, "k2,k4"},
		{store.ChannelEventFilter{From: base.Add(time.Hour), To: base.Add(3 * time.Hour)}, "k2,k4"},
	} {
		if got := keys(tc.f); got != tc.want {
			t.Errorf("FindChannelEvents(%+v) = %s, want %s", tc.f, got, tc.want)
		}
	}
	got, _ := s.FindChannelEvents(ctx, store.ChannelEventFilter{CustomerID: "cu2"})
	want := []store.ChannelEvent{evs[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event = %+v, want %+v", got, want)
	}
}
