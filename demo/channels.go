package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// Channels is the part of scrm's core the demo makes its channels through:
// the same actions the API and the console call.
type Channels interface {
	Channels(ctx context.Context, a bot.Actor) ([]*store.Channel, error)
	CreateChannel(ctx context.Context, a bot.Actor, req bot.ChannelRequest) (*store.Channel, error)
}

// SeedChannel is one of the company's channel QR codes (渠道活码). Legacy
// is the State the seeded people who came through it carry.
type SeedChannel struct {
	Name    string
	Legacy  string
	Staff   []string
	Tags    []string
	Welcome string
}

// SeedChannels are the demo company's channels.
var SeedChannels = []SeedChannel{
	{Name: "展会海报", Legacy: "expo", Staff: []string{"wangfang", "zhangwei"}, Tags: []string{"展会"},
		Welcome: "#客户昵称#您好！我是蓝鲸智能办公的#员工姓名#，感谢您在展会上扫码添加。展会同款 75 寸会议平板本月有展会专享价，回复“报价”即可获取方案。"},
	{Name: "官网客服", Legacy: "website", Staff: []string{"chenjing", "zhangwei"}, Tags: []string{"官网咨询"},
		Welcome: "#客户昵称#您好，我是您的专属顾问#员工姓名#。请问您想了解哪款产品？会议平板、视频会议系统都可以直接问我。"},
}

// demoActor is who the demo's own actions are audited as.
var demoActor = bot.SystemActor("demo")

// scan is one visitor who scanned a channel's code on the demo page.
type scan struct {
	Key            string    `json:"key"`
	Name           string    `json:"name"`
	ExternalUserID string    `json:"external_userid"`
	ChannelID      string    `json:"channel_id"`
	Channel        string    `json:"channel"`
	StaffID        string    `json:"staff_id"`
	StaffName      string    `json:"staff_name"`
	At             time.Time `json:"at"`
	Status         string    `json:"status"` // ok, failed
	Detail         string    `json:"detail,omitempty"`
}

// visitorNames name the visitors who scan on the demo page, in turn.
var visitorNames = []string{"林小北", "苏晴", "陆远", "江雨桐", "秦朗", "白露", "顾一舟", "夏知秋"}

// maxScans bounds the page's scans, so a visitor pressing the button for
// an hour cannot grow the demo's memory.
const maxScans = 50

// seedChannels makes the company's channels through the core (or finds the
// ones a kept store has) and remembers the State each legacy source maps to.
func (d *Demo) seedChannels(ctx context.Context) error {
	if d.o.Channels == nil {
		return nil
	}
	have, err := d.o.Channels.Channels(ctx, demoActor)
	if err != nil {
		return fmt.Errorf("demo: channels: %w", err)
	}
	states := map[string]string{}
	var live []*store.Channel
	for _, sc := range SeedChannels {
		i := slices.IndexFunc(have, func(c *store.Channel) bool { return c.Name == sc.Name && c.DeletedAt == nil })
		var ch *store.Channel
		if i >= 0 {
			ch = have[i]
		} else {
			name, staff, tags := sc.Name, make([]store.ChannelStaff, len(sc.Staff)), slices.Clone(sc.Tags)
			for j, id := range sc.Staff {
				staff[j] = store.ChannelStaff{UserID: id}
			}
			ch, err = d.o.Channels.CreateChannel(ctx, demoActor, bot.ChannelRequest{Name: &name, Staff: &staff, Tags: &tags,
				Welcome: &store.Welcome{Text: sc.Welcome}})
			if err != nil {
				return fmt.Errorf("demo: create channel %s: %w", sc.Name, err)
			}
			d.addActivity("out", "创建渠道活码「"+sc.Name+"」→ 企业微信 add_contact_way", "ok")
		}
		states[sc.Legacy] = ch.State
		live = append(live, ch)
	}
	d.mu.Lock()
	d.states, d.channels = states, live
	d.mu.Unlock()
	return nil
}

// stateOf is the State a seeded person's add carries: their channel's when
// the demo made one for their source.
func (d *Demo) stateOf(p *Person) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.states[p.State]; ok {
		return s
	}
	return p.State
}

// ChannelView is a channel as the demo page shows it.
type ChannelView struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Staff   []string `json:"staff"` // names
	Tags    []string `json:"tags"`
	Welcome string   `json:"welcome"`
	QRCode  string   `json:"qr_code"`
}

// ScanView is a scan and the welcome it brought, as the visitor's phone
// shows it.
type ScanView struct {
	scan
	Welcome   string     `json:"welcome,omitempty"`
	WelcomeAt *time.Time `json:"welcome_at,omitempty"`
}

// ChannelsView lists the channels and the scans of this run, newest first.
func (d *Demo) ChannelsView() (channels []ChannelView, scans []ScanView) {
	d.mu.Lock()
	chs := slices.Clone(d.channels)
	ss := slices.Clone(d.scans)
	d.mu.Unlock()
	for _, ch := range chs {
		v := ChannelView{ID: ch.ID, Name: ch.Name, Tags: ch.Tags, Welcome: ch.Welcome.Text, QRCode: ch.QRCode}
		for _, s := range ch.Staff {
			v.Staff = append(v.Staff, staffName(s.UserID))
		}
		channels = append(channels, v)
	}
	welcomes := d.o.Sim.Welcomes()
	for i := len(ss) - 1; i >= 0; i-- {
		v := ScanView{scan: ss[i]}
		for _, w := range welcomes {
			if w.ExternalUserID == v.ExternalUserID && w.UserID == v.StaffID {
				at := w.At
				v.Welcome, v.WelcomeAt = w.Text, &at
			}
		}
		scans = append(scans, v)
	}
	return channels, scans
}

// ErrNoChannel is returned for a channel the demo does not have.
var ErrNoChannel = errors.New("demo: no such channel")

// ScanChannel is a new visitor scanning a channel's QR code: WeCom (the
// simulator) records the add with the code's State and issues a
// WelcomeCode, and its add_external_contact callback goes to scrm signed
// and encrypted, so scrm sends the channel's welcome within WeCom's 20 s.
func (d *Demo) ScanChannel(ctx context.Context, channelID string) (ScanView, error) {
	d.mu.Lock()
	i := slices.IndexFunc(d.channels, func(c *store.Channel) bool { return c.ID == channelID })
	if i < 0 {
		d.mu.Unlock()
		return ScanView{}, ErrNoChannel
	}
	ch := d.channels[i]
	d.scanSeq++
	n := d.scanSeq
	d.mu.Unlock()
	if _, err := d.driver(); err != nil {
		return ScanView{}, err
	}
	// The members take turns, as a code with several staff does in WeCom.
	var users []string
	for _, w := range d.o.Sim.ContactWays() {
		if w.ConfigID == ch.ConfigID {
			users = w.User
		}
	}
	if len(users) == 0 {
		return ScanView{}, ErrNoChannel // deleted in WeCom
	}
	staff := users[(n-1)%len(users)]
	name := visitorNames[(n-1)%len(visitorNames)]
	if n > len(visitorNames) {
		name = fmt.Sprintf("%s%d", name, (n-1)/len(visitorNames)+1)
	}
	key := fmt.Sprintf("scan%d-%d", d.o.Now().Unix(), n)
	s := scan{Key: key, Name: name, ExternalUserID: "wm" + fakeID("scan:"+key, 30), ChannelID: ch.ID, Channel: ch.Name,
		StaffID: staff, StaffName: staffName(staff), At: d.o.Now(), Status: "ok"}
	m := d.o.Sim.ScanContactWay(ch.ConfigID, staff, wecomtest.Contact{ExternalUserID: s.ExternalUserID, Name: name}, false)
	err := d.send(ctx, whatContact, name+" 扫码「"+ch.Name+"」→ "+s.StaffName, false, m)
	var de *DeliveryError
	if errors.As(err, &de) {
		s.Status, s.Detail = "failed", de.Public()
	}
	d.mu.Lock()
	d.scans = append(d.scans, s)
	if len(d.scans) > maxScans {
		d.scans = slices.Clone(d.scans[len(d.scans)-maxScans:])
	}
	d.mu.Unlock()
	return ScanView{scan: s}, err
}
