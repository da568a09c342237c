package nlp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	openai "github.com/sashabaranov/go-openai"
)

// Errors of the LLM client. Callers fall back to the offline analyzers on
// any of them; ErrUnavailable and ErrBudgetExhausted are worth retrying later.
var (
	// ErrNotConfigured means no LLM endpoint or model is configured.
	ErrNotConfigured = errors.New("nlp: no LLM configured")
	// ErrBudgetExhausted means today's token budget is spent.
	ErrBudgetExhausted = errors.New("nlp: daily LLM token budget exhausted")
	// ErrInvalidOutput means the model's answer did not match the schema,
	// also after one repair attempt.
	ErrInvalidOutput = errors.New("nlp: LLM output invalid after repair")
	// ErrUnavailable means the endpoint failed (network, timeout, 429, 5xx)
	// on every attempt, or refused the request (4xx).
	ErrUnavailable = errors.New("nlp: LLM unavailable")
)

// LLMConfig configures an OpenAI-compatible chat completions endpoint. See
// the provider presets in README.md.
type LLMConfig struct {
	BaseURL string // e.g. https://api.deepseek.com/v1; empty means OpenAI's
	APIKey  string // sent as a bearer token; may be empty for local servers
	Model   string // required

	Timeout        time.Duration // per attempt; default 60 s
	MaxConcurrency int           // requests in flight; default 4
	MaxAttempts    int           // per request, the first try included; default 4
	BackoffBase    time.Duration // first retry delay before jitter; default 500 ms
	BackoffMax     time.Duration // cap of the exponential delay; default 30 s
	MaxRetryAfter  time.Duration // cap on a server's Retry-After; default 60 s
	MaxTokens      int           // completion cap per request; default 1024
	Temperature    float32       // 0 leaves the provider default

	// DailyTokenBudget caps the tokens used per business day (0: no cap).
	// The check happens before each request, so a day may overshoot by
	// one request.
	DailyTokenBudget int64
	// Accountant records usage; default an in-memory one. Pass a
	// persistent implementation to share the budget across instances.
	Accountant Accountant
	// Location defines the business day of the budget; default Asia/Shanghai.
	Location *time.Location
	// DisablePIIMasking sends text unmasked. Masking is on by default.
	DisablePIIMasking bool

	HTTPClient *http.Client        // default: http.Client without timeout (per-attempt contexts bound it)
	Now        func() time.Time    // default time.Now
	Logger     *slog.Logger        // default slog.Default()
	Sleep      func(time.Duration) // for tests; default a context-aware timer
}

// Configured reports whether the config names a model to call.
func (c LLMConfig) Configured() bool { return c.Model != "" }

// Usage is the token usage of one CompleteJSON call, retries and the repair
// attempt included.
type Usage struct {
	PromptTokens     int  `json:"prompt_tokens"`
	CompletionTokens int  `json:"completion_tokens"`
	TotalTokens      int  `json:"total_tokens"`
	Requests         int  `json:"requests"`            // HTTP requests sent
	Estimated        bool `json:"estimated,omitempty"` // the provider reported none; counted from text length
}

func (u *Usage) add(o Usage) {
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
	u.TotalTokens += o.TotalTokens
	u.Requests += o.Requests
	u.Estimated = u.Estimated || o.Estimated
}

// Accountant records token usage per business day and per customer key. The
// in-memory MemoryAccountant suits one instance; a store-backed one can
// share the budget across instances.
type Accountant interface {
	// AddUsage records usage for day ("2006-01-02") and customer ("" if none).
	AddUsage(ctx context.Context, day, customer string, u Usage) error
	// DayTotal returns the tokens recorded for day.
	DayTotal(ctx context.Context, day string) (int64, error)
}

// MemoryAccountant is an in-memory Accountant; it is safe for concurrent use.
type MemoryAccountant struct {
	mu        sync.Mutex
	days      map[string]int64
	customers map[string]map[string]int64
}

// NewMemoryAccountant returns an empty MemoryAccountant.
func NewMemoryAccountant() *MemoryAccountant {
	return &MemoryAccountant{days: map[string]int64{}, customers: map[string]map[string]int64{}}
}

// AddUsage implements Accountant.
func (a *MemoryAccountant) AddUsage(_ context.Context, day, customer string, u Usage) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.days[day] += int64(u.TotalTokens)
	if customer != "" {
		if a.customers[day] == nil {
			a.customers[day] = map[string]int64{}
		}
		a.customers[day][customer] += int64(u.TotalTokens)
	}
	return nil
}

// DayTotal implements Accountant.
func (a *MemoryAccountant) DayTotal(_ context.Context, day string) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.days[day], nil
}

// CustomerTotal returns the tokens recorded for customer on day.
func (a *MemoryAccountant) CustomerTotal(day, customer string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.customers[day][customer]
}

type customerKey struct{}

type oneRequestKey struct{}

// WithOneRequest returns a context whose CompleteJSON calls send exactly
// one request: no retry after a failure, no repair request after an
// invalid answer (ErrUnavailable or ErrInvalidOutput instead). For
// interactive uses (reply suggestions in the chat sidebar) that fall back
// to offline answers rather than keep a person waiting or pay twice.
func WithOneRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, oneRequestKey{}, true)
}

func oneRequest(ctx context.Context) bool { v, _ := ctx.Value(oneRequestKey{}).(bool); return v }

// WithCustomer returns a context whose LLM calls are accounted to the
// customer key (e.g. a customer ID).
func WithCustomer(ctx context.Context, customer string) context.Context {
	return context.WithValue(ctx, customerKey{}, customer)
}

func customerFrom(ctx context.Context) string {
	s, _ := ctx.Value(customerKey{}).(string)
	return s
}

// LLM is a client for one OpenAI-compatible endpoint with structured
// output, retries, a concurrency limit, token accounting and PII masking.
// It is safe for concurrent use.
type LLM struct {
	cfg    LLMConfig
	client *openai.Client
	sem    chan struct{}
	rngMu  sync.Mutex
	rng    *rand.Rand
}

// NewLLM returns a client for cfg. It returns ErrNotConfigured when cfg
// names no model.
func NewLLM(cfg LLMConfig) (*LLM, error) {
	if !cfg.Configured() {
		return nil, ErrNotConfigured
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = 4
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 500 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 60 * time.Second
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 1024
	}
	if cfg.Accountant == nil {
		cfg.Accountant = NewMemoryAccountant()
	}
	if cfg.Location == nil {
		cfg.Location = shanghai()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	oc.HTTPClient = retryAfterDoer{hc}
	return &LLM{
		cfg:    cfg,
		client: openai.NewClientWithConfig(oc),
		sem:    make(chan struct{}, cfg.MaxConcurrency),
		rng:    rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5c12)),
	}, nil
}

// Model returns the configured model name.
func (l *LLM) Model() string { return l.cfg.Model }

// Accountant returns the accountant recording this client's usage.
func (l *LLM) Accountant() Accountant { return l.cfg.Accountant }

// Day returns the business day ("2006-01-02") the budget is counted in now.
func (l *LLM) Day() string { return l.cfg.Now().In(l.cfg.Location).Format("2006-01-02") }

// CompleteJSON asks the model for a JSON object in JSON mode and decodes it
// into out after checking it against schema (nil: any object). The user
// text is masked for PII before it is sent and the answer unmasked before
// it is decoded, so callers pass and get raw text. An answer that is not
// valid JSON or not valid against the schema gets one repair request that
// quotes the error; a second failure returns ErrInvalidOutput. 429, 5xx,
// timeouts and network errors are retried with exponential backoff and
// jitter, honouring Retry-After; when all attempts fail the error wraps
// ErrUnavailable. ErrBudgetExhausted is returned, without a request, once
// the day's budget is spent. Usage covers every request made.
func (l *LLM) CompleteJSON(ctx context.Context, system, user string, schema *Schema, out any) (Usage, error) {
	var total Usage
	if l == nil {
		return total, ErrNotConfigured
	}
	if err := l.checkBudget(ctx); err != nil {
		return total, err
	}
	masker := NewMasker()
	if !l.cfg.DisablePIIMasking {
		system, user = masker.Mask(system), masker.Mask(user)
	}
	msgs := BuildMessages(system, user, schema)
	content, u, err := l.chat(ctx, msgs)
	total.add(u)
	if err != nil {
		return total, err
	}
	verr := decodeValid(masker, content, schema, out)
	if verr == nil {
		return total, nil
	}
	if oneRequest(ctx) {
		return total, fmt.Errorf("%w: %w", ErrInvalidOutput, verr)
	}
	// The validation error may quote the answer, so only its kind is logged.
	l.cfg.Logger.Warn("llm output invalid, asking for a repair", "model", l.cfg.Model, "reason", invalidKind(verr))
	// The error quotes the masked answer; masking it again is cheap insurance.
	repair := repairPrompt(verr)
	if !l.cfg.DisablePIIMasking {
		repair = masker.Mask(repair)
	}
	msgs = append(msgs,
		openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant, Content: content},
		openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: repair},
	)
	content, u, err = l.chat(ctx, msgs)
	total.add(u)
	if err != nil {
		return total, err
	}
	if verr := decodeValid(masker, content, schema, out); verr != nil {
		return total, fmt.Errorf("%w: %w", ErrInvalidOutput, verr)
	}
	return total, nil
}

// BuildMessages returns the chat messages CompleteJSON sends for a system
// prompt, a user prompt and a schema (before PII masking).
func BuildMessages(system, user string, schema *Schema) []openai.ChatCompletionMessage {
	sys := system + "\n\n" + jsonInstruction
	if schema != nil {
		b, err := json.Marshal(schema) // compact: every token is paid for
		if err == nil {
			sys += "\n" + schemaIntro + "\n" + string(b)
		}
	}
	return []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: sys},
		{Role: openai.ChatMessageRoleUser, Content: user},
	}
}

func invalidKind(err error) string {
	if strings.HasPrefix(err.Error(), "not valid JSON") {
		return "invalid_json"
	}
	return "schema_mismatch"
}

// decodeValid checks content against schema, unmasks it and decodes it into
// out. The check runs on the masked content, so the error, which is quoted
// back to the model in a repair request, quotes placeholders and no
// personal data.
func decodeValid(m *Masker, content string, schema *Schema, out any) error {
	content = stripFences(content)
	var v any
	if err := json.Unmarshal([]byte(content), &v); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if schema == nil {
		schema = &Schema{Type: "object"}
	}
	if err := schema.Validate(v); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(m.UnmaskJSON(content)), out); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// stripFences removes the ```json fences some models put around JSON even
// in JSON mode.
func stripFences(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```json")
		s = strings.TrimPrefix(s, "```")
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	return strings.TrimSpace(s)
}

func (l *LLM) checkBudget(ctx context.Context) error {
	if l.cfg.DailyTokenBudget <= 0 {
		return nil
	}
	used, err := l.cfg.Accountant.DayTotal(ctx, l.Day())
	if err != nil {
		return fmt.Errorf("nlp: read token usage: %w", err)
	}
	if used >= l.cfg.DailyTokenBudget {
		return ErrBudgetExhausted
	}
	return nil
}

// chat sends one chat completion with retries and records its usage.
func (l *LLM) chat(ctx context.Context, msgs []openai.ChatCompletionMessage) (string, Usage, error) {
	req := openai.ChatCompletionRequest{
		Model:          l.cfg.Model,
		Messages:       msgs,
		ResponseFormat: &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject},
		MaxTokens:      l.cfg.MaxTokens,
		Temperature:    l.cfg.Temperature,
	}
	var u Usage
	var lastErr error
	attempts := l.cfg.MaxAttempts
	if oneRequest(ctx) {
		attempts = 1
	}
	for attempt := 1; attempt <= attempts; attempt++ {
		resp, retryAfter, err := l.once(ctx, req)
		u.Requests++
		if err == nil {
			content := ""
			if len(resp.Choices) > 0 {
				content = resp.Choices[0].Message.Content
			}
			ru := Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens, TotalTokens: resp.Usage.TotalTokens}
			if ru.TotalTokens == 0 {
				ru = estimateUsage(msgs, content)
			}
			u.add(ru)
			if aerr := l.cfg.Accountant.AddUsage(ctx, l.Day(), customerFrom(ctx), ru); aerr != nil {
				l.cfg.Logger.Error("record llm usage", "err", aerr)
			}
			return content, u, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return "", u, fmt.Errorf("nlp: llm request: %w", ctx.Err())
		}
		if !retryable(err) || attempt == attempts {
			break
		}
		delay := l.backoff(attempt)
		if retryAfter > 0 {
			delay = min(retryAfter, l.cfg.MaxRetryAfter)
		}
		l.cfg.Logger.Warn("llm request failed, retrying", "model", l.cfg.Model, "attempt", attempt,
			"delay", delay.String(), "status", statusOf(err))
		if err := l.sleep(ctx, delay); err != nil {
			return "", u, fmt.Errorf("nlp: llm request: %w", err)
		}
	}
	return "", u, fmt.Errorf("%w: %d attempts, last: %w", ErrUnavailable, u.Requests, lastErr)
}

// once sends one request within a concurrency slot and the per-attempt
// timeout; it also returns the server's Retry-After, if any.
func (l *LLM) once(ctx context.Context, req openai.ChatCompletionRequest) (openai.ChatCompletionResponse, time.Duration, error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return openai.ChatCompletionResponse{}, 0, ctx.Err()
	}
	defer func() { <-l.sem }()
	actx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	var ra retryAfterHolder
	ra.now = l.cfg.Now
	actx = context.WithValue(actx, retryAfterKey{}, &ra)
	resp, err := l.client.CreateChatCompletion(actx, req)
	return resp, ra.d, err
}

func (l *LLM) backoff(attempt int) time.Duration {
	d := l.cfg.BackoffBase << (attempt - 1)
	if d > l.cfg.BackoffMax || d <= 0 {
		d = l.cfg.BackoffMax
	}
	l.rngMu.Lock()
	f := 0.5 + 0.5*l.rng.Float64() // jitter: 50–100% of the delay
	l.rngMu.Unlock()
	return time.Duration(float64(d) * f)
}

func (l *LLM) sleep(ctx context.Context, d time.Duration) error {
	if l.cfg.Sleep != nil {
		l.cfg.Sleep(d)
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func statusOf(err error) int {
	var ae *openai.APIError
	if errors.As(err, &ae) {
		return ae.HTTPStatusCode
	}
	var re *openai.RequestError
	if errors.As(err, &re) {
		return re.HTTPStatusCode
	}
	return 0
}

// retryable reports whether err is worth another attempt: rate limits,
// server errors, timeouts and network failures.
func retryable(err error) bool {
	if st := statusOf(err); st != 0 {
		return st == http.StatusTooManyRequests || st == http.StatusRequestTimeout || st >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

type retryAfterKey struct{}

type retryAfterHolder struct {
	d   time.Duration
	now func() time.Time
}

// retryAfterDoer records a failed response's Retry-After header, which the
// go-openai errors do not carry, into the request's context.
type retryAfterDoer struct{ c *http.Client }

func (d retryAfterDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	if h, ok := req.Context().Value(retryAfterKey{}).(*retryAfterHolder); ok {
		h.d = parseRetryAfter(resp.Header.Get("Retry-After"), h.now())
	}
	return resp, nil
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// EstimateTokens approximates a token count for providers that report no
// usage: about one token per Chinese character and one per four other
// characters.
func EstimateTokens(s string) int {
	han, other := 0, 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case !unicode.IsSpace(r):
			other++
		}
	}
	return han + (other+3)/4
}

func estimateUsage(msgs []openai.ChatCompletionMessage, completion string) Usage {
	var b bytes.Buffer
	for _, m := range msgs {
		b.WriteString(m.Content)
	}
	p := EstimateTokens(b.String()) + 4*len(msgs)
	c := EstimateTokens(completion)
	return Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c, Estimated: true}
}
