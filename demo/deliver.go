package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// ErrNotReady is returned when a message is sent before Start.
var ErrNotReady = errors.New("demo: not started")

// DeliveryError is a callback scrm did not acknowledge.
type DeliveryError struct {
	What     string // e.g. "公众号消息"
	Status   int    // HTTP status of scrm's last answer, 0 when none came
	Answer   string // scrm's answer body: a client-safe text
	Attempts int
	Err      error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("demo: deliver %s: status %d after %d attempts: %v", e.What, e.Status, e.Attempts, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Public is the text the page shows.
func (e *DeliveryError) Public() string {
	if e.Status == 0 {
		return "scrm 没有应答回调（" + e.What + "）"
	}
	return fmt.Sprintf("scrm 拒绝了回调（%s）：HTTP %d %s", e.What, e.Status, clip(e.Answer, 80))
}

// Start connects the demo to a listening scrm at baseURL (for example
// http://127.0.0.1:8080) and, in the background, plays the company's recent
// history through scrm's callbacks unless skipHistory (the store already has
// it). Progress shows in State; the returned channel closes when seeding ends.
func (d *Demo) Start(ctx context.Context, baseURL string, skipHistory bool) (<-chan struct{}, error) {
	base := strings.TrimRight(baseURL, "/")
	drv, err := wecomtest.NewDriver(wecomtest.DriverConfig{
		URL:        base + "/wecom/callback",
		OAURL:      base + "/oa/callback",
		Token:      wecomtest.SimToken,
		AESKey:     wecomtest.SimAESKey,
		CorpID:     d.o.Sim.Config().CorpID,
		AgentID:    d.o.Sim.Config().AgentID,
		OAAppID:    d.o.Sim.Config().OAAppID,
		OAToken:    wecomtest.SimOAToken,
		OAAESKey:   wecomtest.SimOAAESKey,
		OASafeMode: true,
		RetryDelay: 200 * time.Millisecond,
		Simulator:  d.o.Sim,
		Now:        d.o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.drv.Store(drv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The channels come first: the history's adds carry their States.
		if err := d.seedChannels(ctx); err != nil && ctx.Err() == nil {
			d.o.Logger.Error("demo channels", "err", err)
			d.addActivity("out", "创建渠道活码失败", "failed")
		}
		if skipHistory {
			d.setSeed(seedState{State: "ready", Message: "沿用已有数据"})
			return
		}
		d.playHistory(ctx)
	}()
	return done, nil
}

func (d *Demo) setSeed(s seedState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seed = s
}

func (d *Demo) driver() (*wecomtest.Driver, error) {
	drv := d.drv.Load()
	if drv == nil {
		return nil, ErrNotReady
	}
	return drv, nil
}

// Callback kinds as the activity log names them.
const (
	whatOAText    = "公众号消息"
	whatOAFollow  = "公众号关注事件"
	whatKF        = "微信客服事件 kf_msg_or_event"
	whatAppText   = "企业微信应用消息"
	whatContact   = "客户联系事件"
	whatCardPress = "模板卡片按钮事件"
)

// send delivers one callback and logs the exchange.
func (d *Demo) send(ctx context.Context, what, who string, oa bool, m wecomtest.Msg) error {
	drv, err := d.driver()
	if err != nil {
		return err
	}
	var del *wecomtest.Delivery
	path := "/wecom/callback"
	if oa {
		path = "/oa/callback"
		del, err = drv.SendOA(ctx, m)
	} else {
		del, err = drv.SendWeCom(ctx, m)
	}
	summary := what + " · " + who + " → POST " + path + "（签名 + AES 加密）"
	if err != nil {
		de := &DeliveryError{What: what, Err: err}
		if del != nil {
			de.Status, de.Answer, de.Attempts = del.Status, strings.TrimSpace(string(del.Body)), del.Attempts
		}
		d.addActivity("in", fmt.Sprintf("%s · 失败：HTTP %d，%d 次尝试", summary, de.Status, de.Attempts), "failed")
		d.o.Logger.Warn("demo callback not acknowledged", "what", what, "status", de.Status, "attempts", de.Attempts, "err", err)
		return de
	}
	ack := fmt.Sprintf("%d", del.Status)
	if a := strings.TrimSpace(string(del.Body)); a != "" && del.Status == http.StatusOK {
		ack += " " + clip(a, 20)
	}
	retries := ""
	if del.Attempts > 1 {
		retries = fmt.Sprintf("，重试 %d 次", del.Attempts-1)
	}
	d.addActivity("in", fmt.Sprintf("%s · %s · %s%s", summary, ack, del.Latency.Round(100*time.Microsecond), retries), "ok")
	return nil
}

// SendAsCustomer delivers a text from the customer with key on the Official
// Account (ChannelOA) or 微信客服 (ChannelKF), as the platform would.
func (d *Demo) SendAsCustomer(ctx context.Context, key, channel, text string) error {
	p := FindPerson(key)
	if p == nil {
		return fmt.Errorf("demo: no customer %q", key)
	}
	if _, err := d.driver(); err != nil {
		return err
	}
	return d.customerSays(ctx, p, channel, text, d.o.Now())
}

func (d *Demo) customerSays(ctx context.Context, p *Person, channel, text string, at time.Time) error {
	var err error
	switch channel {
	case ChannelOA:
		if err = d.ensureFollows(ctx, p, at.Add(-time.Second)); err == nil {
			err = d.send(ctx, whatOAText, p.Name, true, wecomtest.OAText(p.OpenID, text, d.nextMsgID(), at))
		}
	case ChannelKF:
		token := d.o.Sim.AddKFMessage(wecomtest.KFMessage{
			OpenKfID: KFAccountID, ExternalUserID: p.ExternalUserID, Content: text, SendTime: at,
		})
		// The kf callback carries only a token; scrm pulls the message itself.
		err = d.send(ctx, whatKF, p.Name, false, wecomtest.KFEvent(token, KFAccountID, d.o.Now()))
	default:
		return fmt.Errorf("demo: unknown channel %q", channel)
	}
	m := phoneMsg{Channel: channel, Text: text, At: at, Status: "ok"}
	var de *DeliveryError
	if errors.As(err, &de) {
		m.Status, m.Detail = "failed", de.Public()
	}
	d.mu.Lock()
	d.phone[p.Key] = append(d.phone[p.Key], m)
	d.mu.Unlock()
	return err
}

// ensureFollows makes p follow the Official Account before their first
// message there, as WeChat requires.
func (d *Demo) ensureFollows(ctx context.Context, p *Person, at time.Time) error {
	d.mu.Lock()
	done := d.followed[p.OpenID]
	d.mu.Unlock()
	if done {
		return nil
	}
	d.o.Sim.AddOAFollower(wecomtest.OAFollower{OpenID: p.OpenID, UnionID: p.UnionID, Nickname: p.Name, SubscribeTime: at})
	var m wecomtest.Msg
	if p.State == "expo" {
		m = wecomtest.OASubscribeQR(p.OpenID, p.State, "gQDemo"+fakeID("ticket:"+p.Key, 20), at)
	} else {
		m = wecomtest.OASubscribe(p.OpenID, at)
	}
	if err := d.send(ctx, whatOAFollow, p.Name, true, m); err != nil {
		return err
	}
	d.mu.Lock()
	d.followed[p.OpenID] = true
	d.mu.Unlock()
	return nil
}

// SendAsStaff delivers a text a staff member writes to the scrm app.
func (d *Demo) SendAsStaff(ctx context.Context, staffID, text string) error {
	s := FindStaff(staffID)
	if s == nil {
		return fmt.Errorf("demo: no staff member %q", staffID)
	}
	now := d.o.Now()
	err := d.send(ctx, whatAppText, s.Name, false, wecomtest.AppText(s.UserID, text, d.nextMsgID(), now))
	if errors.Is(err, ErrNotReady) {
		return err
	}
	m := chatMsg{Text: text, At: now, Status: "ok"}
	var de *DeliveryError
	if errors.As(err, &de) {
		m.Status, m.Detail = "failed", de.Public()
	}
	d.mu.Lock()
	d.chat[s.UserID] = append(d.chat[s.UserID], m)
	d.mu.Unlock()
	return err
}

// PressCardButton delivers the template_card_event of a staff member
// pressing a button on a card scrm sent them.
func (d *Demo) PressCardButton(ctx context.Context, staffID, taskID, cardType, key string) error {
	s := FindStaff(staffID)
	if s == nil {
		return fmt.Errorf("demo: no staff member %q", staffID)
	}
	if cardType == "" {
		cardType = "button_interaction"
	}
	m := wecomtest.TemplateCardEvent(s.UserID, taskID, cardType, key, "demo"+fakeID(fmt.Sprint(d.nextMsgID()), 16), d.o.Now())
	return d.send(ctx, whatCardPress, s.Name, false, m)
}

// historyWorkers bounds concurrent seeding: enough to batch scrm's group
// commits, few enough that the page stays responsive.
const historyWorkers = 6

// playHistory plays the company's past through scrm's real paths: each
// person's contact being added by their salesperson and their following the
// Official Account (callbacks); with an archive, their WeCom chats of the
// last weeks (the chat archive worker); their messages of the last few days,
// each with its original CreateTime (callbacks); with an archive, the
// salespeople's answers to them; with a core, what the salespeople did in
// scrm (stages, notes, reminders). One person's callbacks go in order;
// people go concurrently. Progress counts the callbacks.
func (d *Demo) playHistory(ctx context.Context) {
	now := d.o.Now()
	setup := make([][]step, len(People))
	lines := make([][]step, len(People))
	times := make([][]time.Time, len(People))
	total := 0
	for i := range People {
		p := &People[i]
		added := now.AddDate(0, 0, -p.AddedDaysAgo)
		plan := []step{{whatContact, func(ctx context.Context) error {
			m := wecomtest.ContactEvent("add_external_contact", p.Owner, p.ExternalUserID, added,
				map[string]string{"State": d.stateOf(p), "WelcomeCode": "demo" + fakeID("welcome:"+p.Key, 20)})
			return d.send(ctx, whatContact, p.Name+" ↔ "+staffName(p.Owner), false, m)
		}}}
		if p.Channel == ChannelOA {
			plan = append(plan, step{whatOAFollow, func(ctx context.Context) error {
				return d.ensureFollows(ctx, p, added.Add(-time.Hour))
			}})
		}
		setup[i] = plan
		times[i] = lineTimes(p.Lines, now, d.o.Location)
		for j, l := range p.Lines {
			at := times[i][j]
			lines[i] = append(lines[i], step{"message", func(ctx context.Context) error {
				return d.customerSays(ctx, p, p.Channel, l.Text, at)
			}})
		}
		total += len(setup[i]) + len(lines[i])
	}
	d.setSeed(seedState{State: "seeding", Total: total})

	err := d.runPlans(ctx, setup)
	if err == nil && d.o.Archive != nil {
		var chats []chatLine
		for i := range People {
			chats = append(chats, olderChats(&People[i], now, d.o.Location)...)
		}
		err = d.archive(ctx, chats)
	}
	if err == nil {
		err = d.runPlans(ctx, lines)
	}
	if err == nil && (d.o.Archive != nil || d.o.Core != nil) {
		// The answers and the actions come after the messages they follow,
		// as they did: scrm must have stored those first.
		err = d.waitProcessed(ctx)
	}
	if err == nil && d.o.Archive != nil {
		var replies []chatLine
		for i := range People {
			replies = append(replies, recentReplies(&People[i], times[i], now)...)
		}
		err = d.archive(ctx, replies)
	}
	if err == nil && d.o.Core != nil {
		err = d.salesWork(ctx, now)
	}

	st := seedState{State: "ready", Done: total, Total: total}
	if ctx.Err() != nil {
		// Stopped (the demo is shutting down): not a failure worth an error.
		d.setSeed(seedState{State: "error", Total: total, Message: "已停止"})
		return
	}
	if err != nil {
		st.State = "error"
		st.Message = err.Error()
		var de *DeliveryError
		if errors.As(err, &de) {
			st.Message = de.Public()
		}
		d.o.Logger.Error("demo seeding failed", "err", err)
	} else {
		d.o.Logger.Info("demo data seeded", "callbacks", total, "took", time.Since(now).Round(time.Millisecond).String())
	}
	d.setSeed(st)
}

// step is one callback of a person's history.
type step struct {
	what string
	run  func(context.Context) error
}

// runPlans runs each person's steps in order, people concurrently, and
// returns the first error; a person's steps stop at their first error (the
// rest would be out of order).
func (d *Demo) runPlans(ctx context.Context, plans [][]step) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := make(chan []step)
	for range historyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for plan := range work {
				for _, s := range plan {
					err := s.run(ctx)
					d.mu.Lock()
					d.seed.Done++
					d.mu.Unlock()
					if err != nil {
						mu.Lock()
						if first == nil {
							first = err
						}
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	for _, plan := range plans {
		select {
		case work <- plan:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
