// Package demo is what `scrm demo` adds to a running scrm: a simulated
// company (a manager, three salespeople and about thirty customers) living in
// the WeCom/Official Account simulator, a web page at /demo where a visitor
// plays a customer and a salesperson, and the small JSON API behind it.
//
// Everything the visitor does enters scrm the way production traffic does:
// the demo builds platform callbacks, signs and encrypts them with the
// simulator's driver and posts them to scrm's own /oa/callback and
// /wecom/callback. The customer records and timelines the page shows are read
// back from the store, and the bot's replies from the simulator's record of
// what scrm sent, so the page shows the product working rather than a mock of
// it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// Store is what the demo page reads from scrm's store.
type Store interface {
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	FindTimeline(ctx context.Context, customerID string, beforeID int64, limit int) ([]*store.TimelineEntry, error)
	Stats(ctx context.Context) (store.Stats, error)
	GetCursor(ctx context.Context, name string) (string, error)
	OldestUnprocessed(ctx context.Context) (time.Time, error)
}

// Options configures a Demo.
type Options struct {
	Store    Store
	Sim      *wecomtest.Simulator
	Location *time.Location // business time zone (default Asia/Shanghai)
	Now      func() time.Time
	Logger   *slog.Logger
	// Archive, when set, is the chat archive scrm's archive worker reads:
	// the demo plays weeks of chats and the staff's answers through it.
	Archive *wecomtest.ChatArchive
	// Core, when set, makes the salespeople's stage changes, notes and
	// reminders of the history, back-dated, through the core actions.
	Core *bot.Core
	// Channels makes the company's channel QR codes (SeedChannels) through
	// scrm's core; nil: the demo has none and no 扫码添加.
	Channels Channels
	// LoginLink returns a one-time login link (a path on scrm) that signs
	// staffID in and goes to next: the demo's chat sidebar opens through
	// one, as the salesperson whose chat it sits beside. nil: no sidebar.
	LoginLink func(ctx context.Context, staffID, next string) (string, error)
}

// KFAccountID is the demo company's 微信客服 account.
const KFAccountID = "wkDemoLanjingKF0001"

// Demo is the simulated company, its page and the API behind it.
type Demo struct {
	o     Options
	drv   atomic.Pointer[wecomtest.Driver]
	msgID atomic.Int64

	mu       sync.Mutex
	phone    map[string][]phoneMsg // person key → what they sent, oldest first
	chat     map[string][]chatMsg  // staff UserID → what they wrote to the app
	activity []activity            // newest last, capped at maxActivity
	actSeq   int64
	followed map[string]bool // openids that have followed the OA in this run
	seed     seedState
	states   map[string]string // a seeded source (Person.State) → its channel's State
	channels []*store.Channel  // the seeded channels, as SeedChannels orders them
	scans    []scan            // 扫码添加 of this run, oldest first
	scanSeq  int
}

// phoneMsg is a message a customer sent from their phone.
type phoneMsg struct {
	Channel string
	Text    string
	At      time.Time
	Status  string // "ok" or "failed"
	Detail  string
}

// chatMsg is a message a staff member wrote to the app.
type chatMsg struct {
	Text   string
	At     time.Time
	Status string
	Detail string
}

// activity is one exchange between scrm and the simulated platforms.
type activity struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Dir     string    `json:"dir"` // "in": platform → scrm callback; "out": scrm → platform API
	Summary string    `json:"summary"`
	Status  string    `json:"status"`
}

const maxActivity = 300

type seedState struct {
	State   string `json:"state"` // starting, seeding, ready, error
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Message string `json:"message,omitempty"`
}

// New builds the demo over a simulator and a store and seeds the simulator
// with the company (staff, customers, tags, followers). Call Start once scrm
// listens to play the seeded history through scrm's callbacks.
func New(o Options) (*Demo, error) {
	if o.Store == nil || o.Sim == nil {
		return nil, errors.New("demo: store and simulator are required")
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			return nil, fmt.Errorf("demo: load time zone: %w", err)
		}
		o.Location = loc
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Demo{
		o:        o,
		phone:    map[string][]phoneMsg{},
		chat:     map[string][]chatMsg{},
		followed: map[string]bool{},
		seed:     seedState{State: "starting"},
	}
	// Message ids only need to be unique; starting from the clock keeps them
	// unique across runs that keep their data directory.
	d.msgID.Store(o.Now().UnixMicro())
	d.seedPlatform()
	o.Sim.OnSent(d.recordSent)
	return d, nil
}

// nextMsgID returns a fresh 64-bit platform message id.
func (d *Demo) nextMsgID() int64 { return d.msgID.Add(1) }

// seedPlatform puts the company into the simulator: what WeCom and the
// Official Account know before scrm hears of anything.
func (d *Demo) seedPlatform() {
	sim := d.o.Sim
	now := d.o.Now()
	for _, s := range StaffList {
		sim.AddStaff(wecomtest.Staff{UserID: s.UserID, Name: s.Name, Department: []int{1}, IsLeader: s.Manager})
	}
	for _, g := range TagGroups {
		for _, t := range g.Tags {
			sim.AddTag(g.Name, t)
		}
	}
	sim.AddKFAccount(KFAccountID, Company+"客服")
	for _, p := range People {
		var tagIDs []string
		for _, t := range p.Tags {
			if id, ok := tagIDByName(sim, t); ok {
				tagIDs = append(tagIDs, id)
			}
		}
		sim.AddExternalContact(wecomtest.Contact{
			ExternalUserID: p.ExternalUserID,
			Name:           p.Name,
			UnionID:        p.UnionID,
			Gender:         p.Gender,
			CorpName:       p.Company,
			Follow: []wecomtest.Follow{{
				UserID:      p.Owner,
				Remark:      p.Name,
				Description: p.Company + " " + p.Position,
				State:       p.State,
				CreateTime:  now.AddDate(0, 0, -p.AddedDaysAgo),
				TagIDs:      tagIDs,
				AddWay:      1,
			}},
		})
		if p.Channel == ChannelOA {
			sim.AddOAFollower(wecomtest.OAFollower{
				OpenID:        p.OpenID,
				UnionID:       p.UnionID,
				Nickname:      p.Name,
				SubscribeTime: now.AddDate(0, 0, -p.AddedDaysAgo).Add(-time.Hour),
			})
		}
	}
}

// tagIDByName finds a tag by its name in any group.
func tagIDByName(sim *wecomtest.Simulator, name string) (string, bool) {
	for _, g := range TagGroups {
		for _, t := range g.Tags {
			if t == name {
				return sim.TagID(g.Name, t)
			}
		}
	}
	return "", false
}

// addActivity appends to the activity log.
func (d *Demo) addActivity(dir, summary, status string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actSeq++
	d.activity = append(d.activity, activity{ID: d.actSeq, At: d.o.Now(), Dir: dir, Summary: summary, Status: status})
	if len(d.activity) > maxActivity {
		d.activity = append(d.activity[:0:0], d.activity[len(d.activity)-maxActivity:]...)
	}
}

// recordSent logs what scrm sent through the simulated platform APIs.
func (d *Demo) recordSent(m wecomtest.SentMessage) {
	var to string
	switch m.Channel {
	case wecomtest.SentWeComApp:
		to = "企业微信应用消息 → " + staffName(m.To)
	case wecomtest.SentKF:
		to = "微信客服消息 → " + personName(m.To)
	case wecomtest.SentOA:
		to = "公众号客服消息 → " + personName(m.To)
	default:
		to = m.Channel + " → " + m.To
	}
	d.addActivity("out", to+"（"+m.MsgType+"）", "ok")
}

func staffName(id string) string {
	if s := FindStaff(id); s != nil {
		return s.Name
	}
	return id
}

func personName(id string) string {
	if p := personByPlatformID(id); p != nil {
		return p.Name
	}
	return id
}

// personByPlatformID finds a person by an external_userid, openid or unionid.
func personByPlatformID(id string) *Person {
	for i := range People {
		p := &People[i]
		if id != "" && (p.ExternalUserID == id || p.OpenID == id || p.UnionID == id) {
			return p
		}
	}
	return nil
}
