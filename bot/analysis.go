package bot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// AnalysisJobKind is the kind of the conversation analysis jobs; their key
// is AnalysisJobKey(customerID).
const AnalysisJobKind = "analyze"

// AnalysisJobKey is the job key of a customer's analysis. One key per
// customer is what makes a burst of messages one analysis.
func AnalysisJobKey(customerID string) string { return "analyze:" + customerID }

// AnalysisStore is what the analysis reads and writes.
type AnalysisStore interface {
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
	FindTimeline(ctx context.Context, customerID string, beforeID int64, limit int) ([]*store.TimelineEntry, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
	UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error)
	CreateReminder(ctx context.Context, r *store.Reminder) (bool, error)
	UpsertTags(ctx context.Context, tags []store.Tag) error
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
	ActionStore // proposed stages and tags are applied through the actions
}

// AnalysisOptions configure the analysis; zero values take the defaults.
type AnalysisOptions struct {
	// Quiet is how long a conversation must be silent before it is
	// analysed (default 10 min): each message postpones the analysis.
	Quiet time.Duration
	// Apply makes proposed tags and stage changes take effect; otherwise
	// they are only recorded on the timeline.
	Apply    bool
	Location *time.Location // business time zone (default Asia/Shanghai)
	Now      func() time.Time
	Logger   *slog.Logger
}

// Analysis keeps each customer's conversation analysed: as a processor it
// schedules the customer's analysis job after every message, and its
// HandleJob runs the job once the conversation has gone quiet. A run reads
// only the messages after the last one analysed, updates the rolling summary
// from the previous summary plus those messages, scores sentiment, finds
// promises and the intent, turns promises and sharp negative turns into
// reminders for the owner, proposes tags and stage changes, and stores the
// result on the customer and their timeline.
//
// With an LLM the analyzer is expected to be built with NoFallback: an
// unavailable LLM then fails the job, which is retried with backoff, so an
// outage of any length delays analyses and loses none. Invalid output after
// the repair attempt, and a spent daily budget, make that run offline
// instead, recorded as such.
//
// Only the summary and promise extraction use the LLM (promises only for
// messages in which the offline grammar finds a time expression): each new
// message is then sent about once, so a run costs a fixed overhead plus
// roughly the new messages' own tokens. Sentiment and intent come from the
// embedded models, which read chat well and cost nothing per message.
type Analysis struct {
	st   AnalysisStore
	core *Core
	an   *nlp.Analyzer
	off  *nlp.Analyzer
	o    AnalysisOptions
}

// NewAnalysis returns the analysis processor and job handler. an may be nil
// (offline only) or an Analyzer with an LLM.
func NewAnalysis(st AnalysisStore, an *nlp.Analyzer, o AnalysisOptions) *Analysis {
	o.Quiet = positiveOr(o.Quiet, 10*time.Minute)
	if o.Location == nil {
		o.Location = nlp.BusinessLocation("")
	}
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	off := nlp.NewAnalyzer(nil, nlp.AnalyzerOptions{Location: o.Location, Now: o.Now, Logger: o.Logger})
	if an == nil {
		an = off
	}
	return &Analysis{st: st, core: NewCore(st, o.Now), an: an, off: off, o: o}
}

// Name implements Processor.
func (*Analysis) Name() string { return "analysis" }

// Process implements Processor: a message from or to a customer (re)arms
// the customer's analysis for when the conversation has been quiet for
// Quiet. Re-arming is what ScheduleJob does with an existing key, so a
// redelivered event only postpones the analysis.
func (a *Analysis) Process(ctx context.Context, ev *store.Event) error {
	if ev.CustomerID == "" || wecom.IsEventKind(ev.Kind) {
		return nil
	}
	c, err := a.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		return skipIfGone(err, "analysis: find customer")
	}
	at := a.o.Now()
	if ev.OccurredAt.After(at) {
		at = ev.OccurredAt
	}
	// Re-arming may wait for the batch (withBatch): a rerun re-arms.
	if err := a.st.ScheduleJob(withBatch(ctx), AnalysisJobKey(c.ID), AnalysisJobKind, c.ID, at.Add(a.o.Quiet)); err != nil {
		return fmt.Errorf("analysis: schedule %s: %w", c.ID, err)
	}
	return nil
}

// timelinePage is how many entries one read of the timeline takes.
const timelinePage = 500

// promiseMaxAge bounds how overdue a promise may be and still become a
// reminder: a first analysis of a long history should not push weeks-old
// promises. Older ones stay in the analysis entry.
const promiseMaxAge = 7 * 24 * time.Hour

// maxPromiseReminders caps the reminders one run creates for a customer: a
// run over a long backlog keeps the latest promises, which supersede older
// ones; the rest are recorded as "capped". A normal run, a few messages
// after a quiet period, never comes near it.
const maxPromiseReminders = 20

// dropAlert is the fall of the window's sentiment score (probability
// positive) into negative that raises an alert.
const dropAlert = 0.4

// recentIntents is how many of the customer's latest messages decide the
// conversation's intent.
const recentIntents = 10

// intentTags are the local tags proposed for an intent.
var intentTags = map[string]string{
	nlp.IntentInquiry:   "有询价意向",
	nlp.IntentOrder:     "有购买意向",
	nlp.IntentComplaint: "有投诉",
	nlp.IntentService:   "售后跟进",
}

// HandleJob runs one analysis job (see Analysis). It returns an error only
// for what is worth retrying: the store, or an unavailable LLM.
func (a *Analysis) HandleJob(ctx context.Context, job *store.Job) error {
	id := job.Payload
	if id == "" {
		id = strings.TrimPrefix(job.Key, "analyze:")
	}
	c, err := a.st.FindCustomerByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // erased, or merged away: the survivor is analysed on its next message
	}
	if err != nil {
		return fmt.Errorf("analysis: find customer %s: %w", id, err)
	}
	prev := store.Insight{}
	if c.Insight != nil {
		prev = *c.Insight
	}
	entries, err := a.newMessages(ctx, c.ID, prev.Through)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	ctx = nlp.WithCustomer(ctx, c.ID)
	res, err := a.analyze(ctx, a.an, prev, entries)
	if reason := offlineReason(err); reason != "" {
		// The LLM answered nonsense twice or today's budget is spent:
		// analyse offline now rather than store nothing or wait for days.
		a.o.Logger.Warn("analysis: llm result unusable, analysing offline", "customer_id", c.ID, "reason", reason)
		res, err = a.analyze(ctx, a.off, prev, entries)
		res.fallback = reason
		res.fallbackErr = errKind(reason)
	}
	if err != nil {
		return fmt.Errorf("analysis: %s: %w", c.ID, err)
	}
	return a.save(ctx, c, prev, entries, res)
}

// newMessages returns the customer's message entries after through, oldest first.
func (a *Analysis) newMessages(ctx context.Context, customerID string, through int64) ([]*store.TimelineEntry, error) {
	var out []*store.TimelineEntry
	before := int64(0)
	for {
		page, err := a.st.FindTimeline(ctx, customerID, before, timelinePage)
		if err != nil {
			return nil, fmt.Errorf("analysis: read timeline of %s: %w", customerID, err)
		}
		done := len(page) == 0
		for _, e := range page {
			if e.ID <= through {
				done = true
				break
			}
			if e.Kind == store.EntryMessage {
				out = append(out, e)
			}
		}
		if done {
			break
		}
		before = page[len(page)-1].ID
	}
	slices.Reverse(out)
	return out, nil
}

// offlineReason says whether an LLM error calls for an offline run ("" if not).
func offlineReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, nlp.ErrInvalidOutput):
		return "invalid_output"
	case errors.Is(err, nlp.ErrBudgetExhausted):
		return "budget_exhausted"
	case errors.Is(err, nlp.ErrNotConfigured):
		return "not_configured"
	}
	return ""
}

// errKind is the part of an LLM error safe to store: the model's answer,
// which ErrInvalidOutput quotes, may hold customers' words.
func errKind(reason string) string {
	switch reason {
	case "invalid_output":
		return "大模型两次输出均不符合格式（已请求修正一次）"
	case "budget_exhausted":
		return "今日大模型 token 预算已用完"
	}
	return reason
}

// found is a promise found in one message.
type found struct {
	entry *store.TimelineEntry
	n     int
	p     nlp.Promise
}

type msgSentiment struct {
	ID    int64   `json:"id"`
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// result is one run's analysis, before it is stored.
type result struct {
	summary    string
	model      string
	usage      nlp.Usage
	promises   []found
	sentiments []msgSentiment
	intents    []string // of the customer's messages, in order
	// fallback is set when the LLM's answer could not be used.
	fallback, fallbackErr string
}

// analyze runs the analyzer over the new messages. Errors are the
// analyzer's (with NoFallback, the LLM's) or the context's.
func (a *Analysis) analyze(ctx context.Context, an *nlp.Analyzer, prev store.Insight, entries []*store.TimelineEntry) (result, error) {
	var res result
	msgs := make([]nlp.Message, 0, len(entries))
	for _, e := range entries {
		if strings.TrimSpace(e.Text) == "" {
			continue // pictures and the like: nothing to read
		}
		msgs = append(msgs, messageOf(e))
	}
	res.summary, res.model = prev.Summary, cmp.Or(prev.Model, nlp.OfflineModel)
	if len(msgs) == 0 {
		return res, nil // pictures only: the previous analysis stands
	}
	sum, err := an.Summarize(ctx, prev.Summary, msgs)
	if err = llmErr(sum.Source, err); err != nil {
		return res, fmt.Errorf("summary: %w", err)
	}
	res.summary, res.model = sum.Text, sum.Model
	res.usage = addUsage(res.usage, sum.Usage)
	for _, e := range entries {
		if strings.TrimSpace(e.Text) == "" {
			continue
		}
		msg := messageOf(e)
		if msg.Role == nlp.RoleCustomer {
			// The embedded models score every person's message; the
			// analyzer's message methods skip automatic ones unread.
			s, err := a.off.AnalyzeMessageSentiment(ctx, msg)
			if err != nil {
				return res, fmt.Errorf("sentiment: %w", err)
			}
			if !s.Skipped {
				res.sentiments = append(res.sentiments, msgSentiment{ID: e.ID, Label: s.Label, Score: s.Score})
			}
			in, err := a.off.ClassifyMessageIntent(ctx, msg)
			if err != nil {
				return res, fmt.Errorf("intent: %w", err)
			}
			if !in.Skipped {
				res.intents = append(res.intents, in.Intent)
			}
		}
		// The bot's automatic answers (FAQ, business hours) are canned
		// text, not anyone's commitment: "工作时间 9:00-18:00，我们会尽快
		// 回复您" must not remind the owner of a promise nobody made. A
		// staff message whose promises became reminders when it was sent
		// is not read again.
		if msg.Auto || e.Attrs[AttrPromisesRead] == "true" {
			continue
		}
		// A promise needs a time expression: asking the LLM about messages
		// without one would spend tokens on empty answers.
		if an.Online() && len(nlp.ParseTimeExpr(e.Text, e.At, a.o.Location)) == 0 {
			continue
		}
		pa, err := an.ExtractPromises(ctx, msg)
		if err = llmErr(pa.Source, err); err != nil {
			return res, fmt.Errorf("promises: %w", err)
		}
		res.usage = addUsage(res.usage, pa.Usage)
		for n, p := range pa.Promises {
			res.promises = append(res.promises, found{entry: e, n: n, p: p})
		}
	}
	return res, nil
}

// llmErr is the LLM error behind a result: the returned one (NoFallback),
// or the one an analyzer that falls back reports in the Source.
func llmErr(src nlp.Source, err error) error {
	if err != nil {
		return err
	}
	if src.Fallback != "" && src.Err != nil {
		return src.Err
	}
	return nil
}

func addUsage(u, o nlp.Usage) nlp.Usage {
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
	u.TotalTokens += o.TotalTokens
	u.Requests += o.Requests
	u.Estimated = u.Estimated || o.Estimated
	return u
}

// messageOf is a timeline message as the analyzer reads it.
func messageOf(e *store.TimelineEntry) nlp.Message {
	return nlp.Message{Role: roleOf(e), Text: e.Text, At: e.At, Auto: e.Automatic()}
}

func roleOf(e *store.TimelineEntry) string {
	if e.Direction == store.DirectionOut {
		return nlp.RoleStaff
	}
	return nlp.RoleCustomer
}

// window is the conversation-level view of a run.
type window struct {
	label         string
	score, trend  float64
	intent        string
	alert         string // reminder text, "" if none
	proposedTags  []string
	proposedStage string
}

// assess turns per-message results into the window's sentiment, trend,
// intent, alert and proposals.
func (a *Analysis) assess(c *store.Customer, prev store.Insight, entries []*store.TimelineEntry, res result, name string) window {
	w := window{label: prev.SentimentLabel, score: prev.SentimentScore, intent: prev.Intent}
	if len(res.sentiments) > 0 {
		// Recent messages weigh more (half-life of five messages): the
		// window should say how the customer feels now. A neutral message
		// carries no evidence either way, so it counts as 0.5 rather than
		// as the model's raw score.
		var sum, wsum float64
		last := len(res.sentiments) - 1
		for i, s := range res.sentiments {
			v := s.Score
			if s.Label == nlp.Neutral {
				v = 0.5
			}
			wt := math.Pow(0.5, float64(last-i)/5)
			sum += wt * v
			wsum += wt
		}
		w.score = sum / wsum
		switch {
		case w.score < 0.4:
			w.label = nlp.Negative
		case w.score > 0.6:
			w.label = nlp.Positive
		default:
			w.label = nlp.Neutral
		}
		if prev.SentimentLabel != "" {
			w.trend = max(-1, min(1, w.score-prev.SentimentScore))
		}
	}
	if len(res.intents) > 0 {
		// The intent is the most pressing one of the customer's latest
		// messages (a long window's old complaint is not today's): a
		// complaint outranks after-sales, an order, an inquiry, small talk.
		best := len(nlp.Intents)
		for _, in := range res.intents[max(0, len(res.intents)-recentIntents):] {
			if i := slices.Index(nlp.Intents, in); i >= 0 && i < best {
				best = i
			}
		}
		if best < len(nlp.Intents) {
			w.intent = nlp.Intents[best]
		}
	}
	if len(res.sentiments) > 0 {
		worst := res.sentiments[0]
		for _, s := range res.sentiments {
			if s.Score < worst.Score {
				worst = s
			}
		}
		quote := ""
		for _, e := range entries {
			if e.ID == worst.ID {
				quote = clipRunes(oneLine(e.Text), 40)
			}
		}
		// A fall that ends neutral is a happy customer asking a plain
		// question (a neutral message counts 0.5): only a fall into
		// negative alerts.
		drop := prev.SentimentLabel != "" && prev.SentimentScore-w.score >= dropAlert && w.label == nlp.Negative
		switch {
		case w.label == nlp.Negative && w.intent == nlp.IntentComplaint:
			w.alert = fmt.Sprintf("⚠️ 客户 %s 在投诉：“%s”。请尽快联系处理。", name, quote)
		case drop:
			w.alert = fmt.Sprintf("⚠️ 客户 %s 情绪明显转差（%s → %s）：“%s”。请尽快联系了解情况。",
				name, nlp.SentimentLabel(prev.SentimentLabel, prev.SentimentScore), nlp.SentimentLabel(w.label, w.score), quote)
		}
	}
	if tag := intentTags[w.intent]; tag != "" && len(res.intents) > 0 && !slices.Contains(c.Tags, tag) {
		w.proposedTags = append(w.proposedTags, tag)
	}
	if c.Stage == store.StageLead || c.Stage == "" {
		for _, e := range entries {
			if e.Direction == store.DirectionOut && !e.Automatic() {
				w.proposedStage = store.StageActive // staff has replied: no longer a bare lead
				break
			}
		}
	}
	return w
}

// customerOwner is the staff member reminders go to: the first active follow. A
// customer followed by several staff has one owner this way; a customer
// with no active follow (say an Official Account follower never added in
// WeCom) gets no reminders, only the analysis on the timeline.
func customerOwner(c *store.Customer) (staffID, remark string) {
	for _, f := range c.Follows {
		if !f.Deleted && f.StaffID != "" {
			return f.StaffID, f.Remark
		}
	}
	return "", ""
}

// save writes one run's results: reminders first, then the timeline entry,
// then the insight, whose Through is the commit point. A run that dies
// midway is redone by the job's next claim, and every write is keyed, so
// nothing is duplicated.
func (a *Analysis) save(ctx context.Context, c *store.Customer, prev store.Insight, entries []*store.TimelineEntry, res result) error {
	now := a.o.Now()
	through := entries[len(entries)-1].ID
	staff, _ := customerOwner(c)
	name := reminderName(c)
	w := a.assess(c, prev, entries, res, name)

	type promiseOut struct {
		Entry    int64  `json:"entry"`
		Who      string `json:"who"`
		Action   string `json:"action"`
		Due      string `json:"due"`
		Reminder string `json:"reminder"` // created, exists, no_owner, stale, capped
	}
	promises := make([]promiseOut, 0, len(res.promises))
	created := 0
	for i, f := range res.promises {
		po := promiseOut{Entry: f.entry.ID, Who: f.p.Who, Action: f.p.Action, Due: f.p.Due.Format(time.RFC3339)}
		to := staff
		if f.p.Who == nlp.RoleStaff && f.entry.StaffID != "" {
			to = f.entry.StaffID // whoever made the promise keeps it
		}
		switch {
		case to == "":
			po.Reminder = "no_owner"
		case f.p.Due.Before(now.Add(-promiseMaxAge)):
			po.Reminder = "stale"
		case i < len(res.promises)-maxPromiseReminders:
			po.Reminder = "capped"
		default:
			r := &store.Reminder{
				Key:        fmt.Sprintf("promise:%d:%d", f.entry.ID, f.n),
				CustomerID: c.ID,
				StaffID:    to,
				Kind:       store.ReminderPromise,
				Text:       a.promiseText(f, name),
				DueAt:      remindAt(f.p, f.entry.At, a.o.Location).UTC(),
				Status:     store.ReminderPending,
				CreatedAt:  now,
				UpdatedAt:  now,
			}
			ok, err := a.st.CreateReminder(ctx, r)
			if err != nil {
				return fmt.Errorf("analysis: promise reminder for %s: %w", c.ID, err)
			}
			po.Reminder = "exists"
			if ok {
				po.Reminder = "created"
				created++
			}
		}
		promises = append(promises, po)
	}
	alerted := false
	if w.alert != "" && staff != "" {
		r := &store.Reminder{
			Key:        fmt.Sprintf("sentiment:%s:%d", c.ID, through),
			CustomerID: c.ID,
			StaffID:    staff,
			Kind:       store.ReminderSentiment,
			Text:       w.alert,
			DueAt:      now.UTC(),
			Status:     store.ReminderPending,
			CreatedAt:  now,
			UpdatedAt:  now,
		}
		if _, err := a.st.CreateReminder(ctx, r); err != nil {
			return fmt.Errorf("analysis: sentiment alert for %s: %w", c.ID, err)
		}
		alerted = true
	}

	attrs := map[string]string{
		"model":             res.model,
		"sentiment_model":   nlp.OfflineModel,
		"intent_model":      nlp.OfflineModel,
		"prompt_tokens":     strconv.Itoa(res.usage.PromptTokens),
		"completion_tokens": strconv.Itoa(res.usage.CompletionTokens),
		"total_tokens":      strconv.Itoa(res.usage.TotalTokens),
		"requests":          strconv.Itoa(res.usage.Requests),
		"messages":          strconv.Itoa(len(entries)),
		"from":              strconv.FormatInt(entries[0].ID, 10),
		"through":           strconv.FormatInt(through, 10),
		"sentiment_label":   w.label,
		"sentiment_score":   strconv.FormatFloat(w.score, 'f', 3, 64),
		"sentiment_trend":   strconv.FormatFloat(w.trend, 'f', 3, 64),
		"intent":            w.intent,
		"applied":           strconv.FormatBool(a.o.Apply),
	}
	if res.usage.Estimated {
		attrs["tokens_estimated"] = "true"
	}
	if res.fallback != "" {
		attrs["fallback"] = res.fallback
		attrs["fallback_error"] = res.fallbackErr
	}
	if len(promises) > 0 {
		attrs["promises"] = mustJSON(promises)
	}
	if alerted {
		attrs["alert"] = "true"
	}
	if len(w.proposedTags) > 0 {
		attrs["proposed_tags"] = strings.Join(w.proposedTags, ",")
	}
	if w.proposedStage != "" {
		attrs["proposed_stage"] = w.proposedStage
	}
	if s := res.sentiments; len(s) > 0 {
		attrs["message_sentiments"] = mustJSON(s[max(0, len(s)-100):]) // the latest hundred: enough to mark messages
	}
	entry := &store.TimelineEntry{
		CustomerID: c.ID,
		SourceKey:  fmt.Sprintf("analysis:%s:%d", c.ID, through),
		Kind:       store.EntryAnalysis,
		Text:       a.entryText(prev, entries, res, w, len(promises), created, alerted),
		Attrs:      attrs,
		At:         now,
	}
	if _, err := a.st.AppendTimeline(ctx, entry); err != nil {
		return fmt.Errorf("analysis: timeline of %s: %w", c.ID, err)
	}

	upd := store.CustomerUpdate{
		Insight: &store.Insight{
			Summary:        res.summary,
			SentimentLabel: w.label,
			SentimentScore: w.score,
			SentimentTrend: w.trend,
			Intent:         w.intent,
			Model:          res.model,
			AnalyzedAt:     now,
			Through:        through,
		},
		Now: now,
	}
	if a.o.Apply {
		// Keyed by the analysed range: a rerun of the same analysis finds
		// its entries and repeats the sets.
		sys, key := SystemActor(SourceAnalysis), strconv.FormatInt(through, 10)
		if len(w.proposedTags) > 0 {
			if _, err := a.core.EditTags(ctx, sys, TagsRequest{CustomerID: c.ID, Add: w.proposedTags, LocalGroup: "智能标签", Key: key, At: now}); err != nil {
				switch {
				case errors.Is(err, store.ErrNotFound):
					return nil // erased while we worked
				case errors.Is(err, store.ErrInvalid):
					a.o.Logger.Warn("analysis: proposed tags refused", "customer", c.ID, "err", err)
				default:
					return fmt.Errorf("analysis: tags for %s: %w", c.ID, err)
				}
			}
		}
		if w.proposedStage != "" {
			if _, _, err := a.core.ChangeStage(ctx, sys, StageRequest{CustomerID: c.ID, Stage: w.proposedStage, Key: key,
				Reason: "会话分析：员工已回复", At: now}); err != nil {
				switch {
				case errors.Is(err, store.ErrNotFound):
					return nil
				case errors.Is(err, store.ErrInvalid):
					a.o.Logger.Warn("analysis: proposed stage refused", "customer", c.ID, "err", err)
				default:
					return fmt.Errorf("analysis: stage of %s: %w", c.ID, err)
				}
			}
		}
	}
	if _, err := a.st.UpdateCustomer(ctx, c.ID, upd); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // erased while we worked
		}
		return fmt.Errorf("analysis: update %s: %w", c.ID, err)
	}
	return nil
}

func stageName(s string) string {
	if s == "" {
		return store.StageLead
	}
	return s
}

// entryText is the analysis as staff read it on the timeline.
func (a *Analysis) entryText(prev store.Insight, entries []*store.TimelineEntry, res result, w window, promises, created int, alerted bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "会话分析（%s）：新消息 %d 条", modelName(res.model), len(entries))
	if len(res.sentiments) > 0 {
		// The label and its strength, never a bare percentage: "负面 0%"
		// read as "no negativity" to staff.
		b.WriteString("；情绪 " + nlp.SentimentLabel(w.label, w.score))
		if prev.SentimentLabel != "" && math.Abs(w.trend) >= 0.05 {
			trend := "好转"
			if w.trend < 0 {
				trend = "转差"
			}
			fmt.Fprintf(&b, "（较上次%s）", trend)
		}
	}
	if w.intent != "" && len(res.intents) > 0 {
		b.WriteString("；意图 " + w.intent)
	}
	if promises > 0 {
		fmt.Fprintf(&b, "\n承诺 %d 条，新建提醒 %d 条", promises, created)
	}
	if alerted {
		b.WriteString("\n⚠️ 情绪明显转差或投诉，已提醒负责人")
	}
	if len(w.proposedTags) > 0 || w.proposedStage != "" {
		var parts []string
		if len(w.proposedTags) > 0 {
			parts = append(parts, "标签「"+strings.Join(w.proposedTags, "」「")+"」")
		}
		if w.proposedStage != "" {
			parts = append(parts, "阶段 "+store.StageLead+" → "+w.proposedStage)
		}
		state := "（待确认）"
		if a.o.Apply {
			state = "（已应用）"
		}
		b.WriteString("\n建议：" + strings.Join(parts, "；") + state)
	}
	if res.fallback != "" {
		b.WriteString("\n" + res.fallbackErr + "，本次改用离线分析")
	}
	if res.summary != "" {
		b.WriteString("\n\n" + res.summary)
	}
	return b.String()
}

func modelName(m string) string {
	if m == nlp.OfflineModel {
		return "离线模型"
	}
	return m
}

// dayPartStarts are when a reminder for a vague day part fires: at the
// start of the window the speaker gave, not at its end (the promise's
// deadline), so that "下周三下午再联系我" is pushed early that afternoon.
var dayPartStarts = []struct {
	word string
	h, m int
}{
	{"凌晨", 6, 0}, {"一早", 8, 30}, {"早上", 8, 30}, {"早晨", 8, 30}, {"清晨", 8, 30}, {"明早", 8, 30},
	{"上午", 9, 0}, {"中午", 11, 30}, {"午后", 14, 0}, {"下午", 14, 0}, {"傍晚", 17, 0}, {"下班", 16, 0},
	{"晚上", 19, 0}, {"今晚", 19, 0}, {"明晚", 19, 0}, {"晚间", 19, 0}, {"夜里", 20, 0},
}

// remindAt is when a promise's reminder fires: an hour before a stated time
// (or halfway there when it is closer), the start of a named day part, or
// the morning of a bare day; never before the message was said.
func remindAt(p nlp.Promise, said time.Time, loc *time.Location) time.Time {
	due := p.Due
	if !due.After(said) {
		return due
	}
	var at time.Time
	if p.Exact {
		at = due.Add(-min(time.Hour, due.Sub(said)/2))
	} else {
		d := due.In(loc)
		h, m := 9, 0
		for _, dp := range dayPartStarts {
			if strings.Contains(p.Expr, dp.word) {
				h, m = dp.h, dp.m
				break
			}
		}
		at = time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
		if at.After(due) {
			at = due
		}
	}
	if at.Before(said) {
		at = said.Add(due.Sub(said) / 2)
	}
	return at
}

var weekdayShort = [...]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}

// dueText renders a promise's due time as staff read it: the date and
// weekday, then the stated clock time or the day part that was said.
func dueText(p nlp.Promise, loc *time.Location) string {
	d := p.Due.In(loc)
	s := fmt.Sprintf("%d月%d日（%s）", d.Month(), d.Day(), weekdayShort[d.Weekday()])
	if p.Exact {
		return s + d.Format("15:04")
	}
	for _, dp := range dayPartStarts {
		if strings.Contains(p.Expr, dp.word) {
			switch dp.word {
			case "今晚", "明晚":
				return s + "晚上"
			case "明早":
				return s + "早上"
			case "下班":
				return s + "下班前"
			}
			return s + dp.word
		}
	}
	return s
}

// promiseText is the reminder's text. A customer asking to be contacted
// ("下周三再联系我") becomes the salesperson's action ("再联系他"); any other
// customer commitment quotes the customer and asks for a follow-up then; a
// staff promise reminds its maker.
func (a *Analysis) promiseText(f found, name string) string {
	return promiseText(f, name, a.o.Location)
}

// promiseText is a promise reminder's text (see Analysis.promiseText). A
// request staff make of the customer ("请您周五前把合同寄回") is the
// customer's to keep and the salesperson's to follow up.
func promiseText(f found, name string, loc *time.Location) string {
	when := dueText(f.p, loc)
	action := strings.TrimSpace(f.p.Action)
	if f.p.Who == nlp.RoleStaff {
		action = strings.NewReplacer("您", "他", "你", "他").Replace(action)
		if f.p.Owner == nlp.RoleCustomer {
			return fmt.Sprintf("你请 %s：%s%s → %s 跟进确认", name, f.p.Expr, action, when)
		}
		return fmt.Sprintf("你答应 %s：%s%s（%s）", name, f.p.Expr, action, when)
	}
	quote := clipRunes(sentenceAround(f.entry.Text, f.p.Span), 40)
	if asksStaff(action) {
		action = strings.NewReplacer("来我们", "去他们", "我们", "他们", "我", "他").Replace(action)
		return fmt.Sprintf("客户 %s 说“%s” → %s %s", name, quote, when, action)
	}
	return fmt.Sprintf("客户 %s 说“%s” → %s 跟进", name, quote, when)
}

// staffRequests are the words of a customer asking the salesperson to act
// ("联系我", "给我发报价", "来我们公司演示"); an LLM names the customer instead.
var staffRequests = []string{"联系我", "给我", "告诉我", "发我", "通知我", "找我", "回我", "打给我", "约我",
	"提醒我", "回复我", "答复我", "问我", "来我们", "联系客户", "给客户", "通知客户", "回复客户", "拜访客户"}

func asksStaff(action string) bool {
	for _, w := range staffRequests {
		if strings.Contains(action, w) {
			return true
		}
	}
	return false
}

const sentenceEnds = "。！？!?；;\n"

// sentenceAround returns the sentence of text that holds span (the whole
// text when the span is unknown, as with LLM promises).
func sentenceAround(text string, span [2]int) string {
	if span[1] <= span[0] || span[1] > len(text) {
		return oneLine(text)
	}
	start := strings.LastIndexAny(text[:span[0]], sentenceEnds)
	if start < 0 {
		start = 0
	} else {
		_, w := utf8.DecodeRuneInString(text[start:])
		start += w
	}
	end := strings.IndexAny(text[span[1]:], sentenceEnds)
	if end < 0 {
		end = len(text)
	} else {
		end += span[1]
	}
	return oneLine(text[start:end])
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.Join(strings.Fields(s), " "))
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "" // plain structs of strings and numbers: cannot fail
	}
	return string(b)
}
