package demo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// The company's past beyond the customers' last few days: several weeks of
// WeCom chats between each customer and their salesperson, played through
// scrm's chat archive worker (会话内容存档, simulated); the salespeople's
// answers to the recent messages, with the response times people have; and
// what they did in scrm along the way (stages, notes, reminders) through
// bot.Core, back-dated. Everything is derived from the person's key, so
// every start shows the same history relative to today.

// historyWeeks bounds how far back the chats go.
const historyWeeks = 6

// chatLine is one archived one-to-one message.
type chatLine struct {
	from, to, text string
	at             time.Time
}

var (
	customerOpeners = []string{
		"你好，想了解一下你们的会议平板，有资料吗？",
		"上次说的方案有更新吗？",
		"我们领导想看看同行业的案例",
		"安装和培训大概需要多久？",
		"价格方面还能再商量一下吗？",
		"我们这边会议室的尺寸发你了，帮忙看看选多大的屏",
		"试用机收到了，同事们反馈还不错",
		"合同里的售后条款能再解释一下吗？",
		"设备的质保期是多久？",
		"我们IT问能不能接入现有的视频会议系统",
	}
	customerFollowUps = []string{"顺便问一下，有没有分期付款？", "另外发票能开专票吗？", "麻烦快一点，领导在催"}
	staffAnswers      = []string{
		"您好，资料已经发到您邮箱了，有问题随时找我",
		"收到，我整理一下方案发您",
		"案例已经发您了，您先看看",
		"安装一般一到两天，我们会提前和您约时间",
		"这个我跟领导申请一下，尽快给您答复",
		"好的，我们技术同事确认过了，可以对接",
		"质保三年，屏幕本身五年，合同里都写明了",
		"好的，有需要随时联系我",
		"专票没问题，您把开票信息发我就行",
	}
	staffCheckIns = []string{"您好，最近设备用得怎么样？有问题随时找我", "您好，上次的方案您看了吗？有什么想法可以聊聊"}
	recentAnswers = []string{
		"收到，我马上处理",
		"好的，我查一下给您回复",
		"没问题，我这边安排一下",
		"好的，谢谢您的反馈",
		"明白，我跟同事确认后回复您",
	}
	notes = []string{
		"电话沟通：客户关注价格和交付周期，倾向 65 寸",
		"拜访客户，演示了无线投屏和白板功能，反馈积极",
		"客户内部在走采购流程，预计两周内有结果",
		"已发送报价单和合同模板",
	}
)

// personRand is a person's own deterministic random source.
func personRand(key string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(key))
	return rand.New(rand.NewPCG(h.Sum64(), 7))
}

// businessMoment moves t (local) into working time: weekends to Monday,
// before 09:00 to 09:00-ish, after 18:00 to the next working morning.
func businessMoment(t time.Time, rng *rand.Rand) time.Time {
	morning := func(d time.Time) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), 9, 5+rng.IntN(40), 0, 0, d.Location())
	}
	switch {
	case t.Hour() < 9:
		t = morning(t)
	case t.Hour() >= 18:
		t = morning(t.AddDate(0, 0, 1))
	}
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = morning(t.AddDate(0, 0, 1))
	}
	return t
}

// responseDelay is how long a salesperson takes to answer: mostly minutes,
// sometimes an hour or two, now and then the next working morning.
func responseDelay(rng *rand.Rand) time.Duration {
	switch r := rng.IntN(10); {
	case r < 6:
		return time.Duration(3+rng.IntN(27)) * time.Minute
	case r < 9:
		return time.Duration(30+rng.IntN(90)) * time.Minute
	default:
		return time.Duration(16+rng.IntN(3)) * time.Hour // answered the next morning
	}
}

// olderChats are p's WeCom chats from when they were added (at most
// historyWeeks ago) until a week ago, oldest first.
func olderChats(p *Person, now time.Time, loc *time.Location) []chatLine {
	if p.Complains {
		return nil
	}
	rng := personRand("chats:" + p.Key)
	local := now.In(loc)
	start := local.AddDate(0, 0, -min(p.AddedDaysAgo, historyWeeks*7)+1)
	end := local.AddDate(0, 0, -6)
	var out []chatLine
	for day := start; day.Before(end); day = day.AddDate(0, 0, 3+rng.IntN(5)) {
		at := businessMoment(time.Date(day.Year(), day.Month(), day.Day(), 9+rng.IntN(8), rng.IntN(60), 0, 0, loc), rng)
		if !at.Before(end) {
			break
		}
		if rng.IntN(6) == 0 { // the salesperson checks in unasked
			out = append(out, chatLine{p.Owner, p.ExternalUserID, staffCheckIns[rng.IntN(len(staffCheckIns))], at})
			continue
		}
		out = append(out, chatLine{p.ExternalUserID, p.Owner, customerOpeners[rng.IntN(len(customerOpeners))], at})
		if rng.IntN(4) == 0 {
			at = at.Add(time.Duration(1+rng.IntN(4)) * time.Minute)
			out = append(out, chatLine{p.ExternalUserID, p.Owner, customerFollowUps[rng.IntN(len(customerFollowUps))], at})
		}
		reply := businessMoment(at.Add(responseDelay(rng)), rng)
		out = append(out, chatLine{p.Owner, p.ExternalUserID, staffAnswers[rng.IntN(len(staffAnswers))], reply})
	}
	for i := range out {
		out[i].at = out[i].at.UTC()
	}
	return out
}

// waitsForAnswer reports whether p's last messages stay unanswered: those
// who wrote today or yesterday, so the workbench has people waiting.
func waitsForAnswer(p *Person) bool {
	return len(p.Lines) > 0 && p.Lines[len(p.Lines)-1].DaysAgo <= 1
}

// recentReplies are the salesperson's answers (in the WeCom chat) to p's
// recent lines, sent at times: one after each burst of messages, except the
// last burst of someone still waiting, and never after now.
func recentReplies(p *Person, times []time.Time, now time.Time) []chatLine {
	rng := personRand("replies:" + p.Key)
	var out []chatLine
	for i := range p.Lines {
		last := i == len(p.Lines)-1
		if !last && times[i+1].Sub(times[i]) < 30*time.Minute {
			continue // the customer is still typing: answer the burst
		}
		if last && waitsForAnswer(p) {
			break
		}
		at := times[i].Add(responseDelay(rng))
		if !last && !at.Before(times[i+1]) {
			at = times[i+1].Add(-time.Minute)
		}
		if !at.Before(now) || !at.After(times[i]) {
			continue
		}
		out = append(out, chatLine{p.Owner, p.ExternalUserID, recentAnswers[rng.IntN(len(recentAnswers))], at})
	}
	return out
}

// archive puts chats into the simulated chat archive and waits until scrm's
// archive worker has stored them (its cursor reaches the last seq).
func (d *Demo) archive(ctx context.Context, lines []chatLine) error {
	a := d.o.Archive
	var last uint64
	for _, l := range lines {
		last = a.Add(l.from, l.to, l.text, l.at)
	}
	if last == 0 {
		return nil
	}
	return d.waitFor(ctx, "会话存档", func() (bool, error) {
		cur, err := d.o.Store.GetCursor(ctx, bot.ArchiveCursor)
		if err != nil {
			return false, err
		}
		var n uint64
		_, _ = fmt.Sscan(cur, &n)
		return n >= last, nil
	})
}

// waitProcessed waits until scrm has processed every callback (twice in a
// row: processing a 微信客服 event appends further events).
func (d *Demo) waitProcessed(ctx context.Context) error {
	quiet := 0
	return d.waitFor(ctx, "回调处理", func() (bool, error) {
		_, err := d.o.Store.OldestUnprocessed(ctx)
		switch {
		case errors.Is(err, store.ErrNotFound):
			quiet++
		case err != nil:
			return false, err
		default:
			quiet = 0
		}
		return quiet >= 2, nil
	})
}

// historyWait bounds each wait for scrm's background work.
const historyWait = 30 * time.Second

func (d *Demo) waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(historyWait)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("demo: wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %s did not finish within %v", what, historyWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stagePath is the stage changes that bring p from 新线索 to p.Stage.
func stagePath(stage string) []string {
	switch stage {
	case store.StageActive:
		return []string{store.StageActive}
	case store.StageWon:
		return []string{store.StageActive, store.StageWon}
	case store.StageDormant:
		return []string{store.StageActive, store.StageDormant}
	case store.StageLost:
		return []string{store.StageActive, store.StageLost}
	}
	return nil
}

// salesWork is what the salespeople did in scrm, through the core actions
// as the bot and the console do them, back-dated: stage changes along each
// customer's way, a note on those in conversation, and for each
// salesperson a reminder that is overdue and one due later today.
func (d *Demo) salesWork(ctx context.Context, now time.Time) error {
	core, loc := d.o.Core, d.o.Location
	reminded := map[string]int{}
	for i := range People {
		p := &People[i]
		cu, err := d.o.Store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: p.ExternalUserID})
		if err != nil {
			return fmt.Errorf("demo: customer %s: %w", p.Key, err)
		}
		a := bot.Actor{Viewer: bot.Viewer{StaffID: p.Owner, Role: roleOf(p.Owner)}, Source: bot.SourceBot}
		rng := personRand("work:" + p.Key)
		added := now.AddDate(0, 0, -p.AddedDaysAgo)
		path := stagePath(p.Stage)
		for k, stage := range path {
			// Spread over the time since they were added; the last change
			// comes after the customer's last word when that decided it
			// (沉睡, 流失).
			frac := float64(k+1) / float64(len(path)+1)
			at := added.Add(time.Duration(frac * float64(now.Sub(added))))
			if k == len(path)-1 && (stage == store.StageDormant || stage == store.StageLost) {
				at = now.Add(-time.Duration(20+rng.IntN(20)) * time.Hour)
			}
			if _, _, err := core.ChangeStage(ctx, a, bot.StageRequest{CustomerID: cu.ID, Stage: stage, Key: "demo-stage:" + p.Key + ":" + stage, At: at}); err != nil {
				return fmt.Errorf("demo: stage of %s: %w", p.Key, err)
			}
		}
		if p.Stage == store.StageActive || p.Stage == store.StageWon {
			at := businessMoment(now.AddDate(0, 0, -7-rng.IntN(7)).In(loc), rng).UTC()
			if _, _, err := core.AddNote(ctx, a, bot.NoteRequest{CustomerID: cu.ID, Text: notes[rng.IntN(len(notes))], Key: "demo-note:" + p.Key, At: at}); err != nil {
				return fmt.Errorf("demo: note on %s: %w", p.Key, err)
			}
		}
		if n := reminded[p.Owner]; n < 2 && p.Stage != store.StageLost {
			reminded[p.Owner] = n + 1
			req := bot.ReminderRequest{CustomerID: cu.ID, Key: "demo-reminder:" + p.Key}
			if n == 0 { // overdue: set last week for two days ago
				req.Text, req.At, req.DueAt = "回访"+p.Name+"，确认采购进度", now.AddDate(0, 0, -6), now.AddDate(0, 0, -2)
			} else { // later today
				req.Text, req.At = "给"+p.Name+"发报价单", now.AddDate(0, 0, -1)
				req.DueAt = laterToday(now, loc)
			}
			if _, _, err := core.CreateReminder(ctx, a, req); err != nil {
				return fmt.Errorf("demo: reminder on %s: %w", p.Key, err)
			}
		}
	}
	return nil
}

// laterToday is a due time later today: 17:30 in the business time zone, or
// in ten minutes when the day is nearly over.
func laterToday(now time.Time, loc *time.Location) time.Time {
	l := now.In(loc)
	due := time.Date(l.Year(), l.Month(), l.Day(), 17, 30, 0, 0, loc)
	if !due.After(now.Add(10 * time.Minute)) {
		due = now.Add(10 * time.Minute)
		if d := due.In(loc); d.Day() != l.Day() {
			due = now.Add(time.Minute)
		}
	}
	return due.UTC()
}

// roleOf is a demo staff member's role.
func roleOf(userID string) string {
	if s := FindStaff(userID); s != nil && s.Manager {
		return bot.RoleManager
	}
	return bot.RoleSales
}
