package nlp

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// OfflineModel is the Source.Model of results produced without an LLM.
const OfflineModel = "offline"

// Source says which model produced a result and what it cost.
type Source struct {
	Model string `json:"model"` // the LLM model, or OfflineModel
	Usage Usage  `json:"usage"`
	// Fallback is set when an LLM is configured but the offline analyzer
	// answered: "budget_exhausted", "invalid_output", "unavailable" or
	// "error". Err holds the LLM error itself.
	Fallback string `json:"fallback,omitempty"`
	Err      error  `json:"-"`
}

// SentimentAnalysis is the sentiment of one message and its source.
type SentimentAnalysis struct {
	SentimentResult
	Source
	// Skipped is set for an automatic message (Message.Auto), which is not
	// read: the result is neutral and not to be stored.
	Skipped bool `json:"skipped,omitempty"`
}

// PromiseAnalysis lists the promises in one message and their source.
type PromiseAnalysis struct {
	Promises []Promise `json:"promises"`
	Source
	Skipped bool `json:"skipped,omitempty"` // an automatic message, not read
}

// SummaryAnalysis is an updated rolling summary and its source.
type SummaryAnalysis struct {
	Summary
	Source
}

// IntentAnalysis is the intent of one customer message and its source.
type IntentAnalysis struct {
	Intent     string  `json:"intent"` // one of Intents
	Confidence float64 `json:"confidence"`
	Source
	Skipped bool `json:"skipped,omitempty"` // an automatic message, not read
}

// AnalyzerOptions configure an Analyzer.
type AnalyzerOptions struct {
	// Location is the business time zone; default Asia/Shanghai.
	Location *time.Location
	// Now is the clock for messages without a time; default time.Now.
	Now func() time.Time
	// NoFallback makes LLM failures (other than "not configured") errors
	// instead of offline results, for callers that would rather retry
	// later than store an offline answer.
	NoFallback bool
	Logger     *slog.Logger
}

// Analyzer runs conversation analyses with an LLM when one is configured
// and with the offline models when it is not, when it fails, or when the
// day's token budget is spent. It is safe for concurrent use.
type Analyzer struct {
	llm  *LLM
	opts AnalyzerOptions
}

// NewAnalyzer returns an Analyzer over llm, which may be nil (offline only).
func NewAnalyzer(llm *LLM, opts AnalyzerOptions) *Analyzer {
	if opts.Location == nil {
		opts.Location = shanghai()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Analyzer{llm: llm, opts: opts}
}

// Online reports whether the Analyzer has an LLM to try first.
func (a *Analyzer) Online() bool { return a.llm != nil }

// fallback decides what an LLM error means: the Source of an offline answer,
// or (with NoFallback, or when ctx is done) an error to return.
func (a *Analyzer) fallback(ctx context.Context, task string, u Usage, err error) (Source, error) {
	if ctx.Err() != nil {
		return Source{}, ctx.Err()
	}
	if a.opts.NoFallback {
		return Source{}, err
	}
	reason := "error"
	switch {
	case errors.Is(err, ErrBudgetExhausted):
		reason = "budget_exhausted"
	case errors.Is(err, ErrInvalidOutput):
		reason = "invalid_output"
	case errors.Is(err, ErrUnavailable):
		reason = "unavailable"
	}
	if reason == "invalid_output" {
		// The error quotes the model's answer: keep it out of the log.
		a.opts.Logger.Warn("llm analysis failed, using the offline analyzer", "task", task, "reason", reason)
	} else {
		a.opts.Logger.Warn("llm analysis failed, using the offline analyzer", "task", task, "reason", reason, "err", err)
	}
	return Source{Model: OfflineModel, Usage: u, Fallback: reason, Err: err}, nil
}

func (a *Analyzer) online(u Usage) Source { return Source{Model: a.llm.Model(), Usage: u} }

// AnalyzeSentiment scores one message.
func (a *Analyzer) AnalyzeSentiment(ctx context.Context, text string) (SentimentAnalysis, error) {
	if a.llm != nil && strings.TrimSpace(text) != "" {
		var out SentimentResult
		u, err := a.llm.CompleteJSON(ctx, sentimentSystem, sentimentUser(text), sentimentSchema, &out)
		if err == nil {
			return SentimentAnalysis{SentimentResult: out, Source: a.online(u)}, nil
		}
		src, ferr := a.fallback(ctx, "sentiment", u, err)
		if ferr != nil {
			return SentimentAnalysis{}, ferr
		}
		return SentimentAnalysis{SentimentResult: Sentiment(text), Source: src}, nil
	}
	return SentimentAnalysis{SentimentResult: Sentiment(text), Source: Source{Model: OfflineModel}}, nil
}

// AnalyzeMessageSentiment is AnalyzeSentiment for a message: an automatic
// one (msg.Auto) is skipped without reading it.
func (a *Analyzer) AnalyzeMessageSentiment(ctx context.Context, msg Message) (SentimentAnalysis, error) {
	if msg.Auto {
		return SentimentAnalysis{SentimentResult: SentimentResult{Label: Neutral, Score: 0.5}, Source: Source{Model: OfflineModel}, Skipped: true}, nil
	}
	return a.AnalyzeSentiment(ctx, msg.Text)
}

// ClassifyMessageIntent is ClassifyIntent for a message: an automatic one
// (msg.Auto) is skipped without reading it.
func (a *Analyzer) ClassifyMessageIntent(ctx context.Context, msg Message) (IntentAnalysis, error) {
	if msg.Auto {
		return IntentAnalysis{Intent: IntentOther, Source: Source{Model: OfflineModel}, Skipped: true}, nil
	}
	return a.ClassifyIntent(ctx, msg.Text)
}

// ExtractPromises finds the promises in one message, resolving due times
// against msg.At (or now) in the business time zone. Each promise's Who is
// msg.Role, its Owner the party that owes it. An automatic message
// (msg.Auto) holds none and is not read.
func (a *Analyzer) ExtractPromises(ctx context.Context, msg Message) (PromiseAnalysis, error) {
	if msg.Auto {
		return PromiseAnalysis{Promises: []Promise{}, Source: Source{Model: OfflineModel}, Skipped: true}, nil
	}
	if msg.At.IsZero() {
		msg.At = a.opts.Now()
	}
	msg.Role = roleOrDefault(msg.Role)
	if a.llm != nil && strings.TrimSpace(msg.Text) != "" {
		var out struct {
			Promises []struct {
				Action   string `json:"action"`
				Due      string `json:"due"`
				Who      string `json:"who"`
				TimeText string `json:"time_text"`
			} `json:"promises"`
		}
		u, err := a.llm.CompleteJSON(ctx, promisesSystem, promisesUser(msg, a.opts.Location), promisesSchema, &out)
		if err == nil {
			res := PromiseAnalysis{Promises: []Promise{}, Source: a.online(u)}
			// The model is held to what the offline reader can check: a
			// future time expression written in the message, in a sentence
			// that is not a question, a report of the past, a refusal, an
			// estimate or a wish. "尽快" or a question never becomes a date.
			spans := committalTimes(msg.Text, msg.At, a.opts.Location)
			for _, p := range out.Promises {
				due, perr := time.Parse(time.RFC3339, p.Due)
				if perr != nil || due.Before(msg.At) || strings.TrimSpace(p.Action) == "" {
					continue // the schema checked the format; past dues are reports, not promises
				}
				m, ok := spanFor(spans, p.TimeText)
				if !ok {
					continue
				}
				owner := p.Who // the prompt asks the model for the party that owes it
				if owner != RoleCustomer && owner != RoleStaff {
					owner = msg.Role
				}
				res.Promises = append(res.Promises, Promise{Action: p.Action, Due: due.In(a.opts.Location), Who: msg.Role, Owner: owner,
					Expr: m.Text, Span: [2]int{m.Start, m.End}, Exact: m.Exact})
			}
			return res, nil
		}
		src, ferr := a.fallback(ctx, "promises", u, err)
		if ferr != nil {
			return PromiseAnalysis{}, ferr
		}
		return PromiseAnalysis{Promises: a.offlinePromises(msg), Source: src}, nil
	}
	return PromiseAnalysis{Promises: a.offlinePromises(msg), Source: Source{Model: OfflineModel}}, nil
}

func (a *Analyzer) offlinePromises(msg Message) []Promise {
	ps := ExtractPromises(msg.Text, msg.At, a.opts.Location, msg.Role)
	if ps == nil {
		ps = []Promise{}
	}
	return ps
}

// Summarize updates a rolling summary: the prompt holds only the previous
// summary and the new messages, so its size grows with the new messages and
// not with the conversation's history.
func (a *Analyzer) Summarize(ctx context.Context, prevSummary string, newMsgs []Message) (SummaryAnalysis, error) {
	newMsgs = withoutAuto(newMsgs)
	if a.llm != nil && len(newMsgs) > 0 {
		var out struct {
			Overview    string   `json:"overview"`
			Needs       []string `json:"needs"`
			Objections  []string `json:"objections"`
			Answers     []string `json:"answers"`
			Commitments []string `json:"commitments"`
			Questions   []string `json:"questions"`
		}
		u, err := a.llm.CompleteJSON(ctx, summarySystem, summaryUser(prevSummary, newMsgs, a.opts.Location), summarySchema, &out)
		if err == nil {
			s := Summary{Overview: clip(strings.TrimSpace(out.Overview), 2*maxItemRunes)}
			for _, f := range []struct {
				dst *[]string
				src []string
			}{{&s.Needs, out.Needs}, {&s.Objections, out.Objections}, {&s.Answers, out.Answers},
				{&s.Commitments, out.Commitments}, {&s.Questions, out.Questions}} {
				for _, it := range f.src {
					it = strings.TrimSpace(strings.NewReplacer("；", "，", "\n", " ").Replace(it))
					if it != "" && len(*f.dst) < 5 {
						*f.dst = append(*f.dst, clip(it, maxItemRunes+20))
					}
				}
			}
			s.render()
			return SummaryAnalysis{Summary: s, Source: a.online(u)}, nil
		}
		src, ferr := a.fallback(ctx, "summary", u, err)
		if ferr != nil {
			return SummaryAnalysis{}, ferr
		}
		return SummaryAnalysis{Summary: Summarize(a.stamp(newMsgs), prevSummary), Source: src}, nil
	}
	return SummaryAnalysis{Summary: Summarize(a.stamp(newMsgs), prevSummary), Source: Source{Model: OfflineModel}}, nil
}

// withoutAuto drops automatic messages (Message.Auto): canned replies say
// nothing about this customer.
func withoutAuto(msgs []Message) []Message {
	out := msgs[:0:0]
	for _, m := range msgs {
		if !m.Auto {
			out = append(out, m)
		}
	}
	return out
}

// stamp gives messages without a time the current time, so that offline
// promise detection in summaries resolves against a fixed clock.
func (a *Analyzer) stamp(msgs []Message) []Message {
	out := make([]Message, len(msgs))
	now := a.opts.Now()
	for i, m := range msgs {
		if m.At.IsZero() {
			m.At = now
		}
		out[i] = m
	}
	return out
}

// ClassifyIntent assigns one of Intents to a customer message.
func (a *Analyzer) ClassifyIntent(ctx context.Context, text string) (IntentAnalysis, error) {
	if a.llm != nil && strings.TrimSpace(text) != "" {
		var out struct {
			Intent     string  `json:"intent"`
			Confidence float64 `json:"confidence"`
		}
		u, err := a.llm.CompleteJSON(ctx, intentSystem, intentUser(text), intentSchema, &out)
		if err == nil {
			return IntentAnalysis{Intent: out.Intent, Confidence: out.Confidence, Source: a.online(u)}, nil
		}
		src, ferr := a.fallback(ctx, "intent", u, err)
		if ferr != nil {
			return IntentAnalysis{}, ferr
		}
		in, c := ClassifyIntent(text)
		return IntentAnalysis{Intent: in, Confidence: c, Source: src}, nil
	}
	in, c := ClassifyIntent(text)
	return IntentAnalysis{Intent: in, Confidence: c, Source: Source{Model: OfflineModel}}, nil
}
