package nlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	openai "github.com/sashabaranov/go-openai"
)

// Tool is a function the model may call during ChatWithTools.
type Tool struct {
	Name        string
	Description string
	Parameters  *Schema // an object schema; nil means no arguments
}

// ToolCaller runs one tool call and returns its result as text (usually
// JSON). args are the model's JSON arguments, already unmasked. A tool that
// refuses or fails should say so in its result rather than return an
// error; an error aborts the conversation.
type ToolCaller func(ctx context.Context, name string, args json.RawMessage) (string, error)

// ToolChatOptions bounds one ChatWithTools conversation.
type ToolChatOptions struct {
	// MaxRounds caps the requests that may call tools; the request after
	// the last round is sent without tools, so the model must answer.
	// Default 4.
	MaxRounds int
	// MaxTotalTokens caps the tokens of the whole conversation: once spent,
	// the next request is the final one without tools. 0 means 8000.
	MaxTotalTokens int
}

// ErrNoAnswer means the model ended a tool conversation without text.
var ErrNoAnswer = errors.New("nlp: LLM gave no answer")

// ChatWithTools runs a tool-calling conversation and returns the model's
// final text answer. Like CompleteJSON it masks PII in everything sent (the
// prompts and every tool result) with one masker per conversation, and
// unmasks tool arguments before call sees them and the final answer before
// it is returned; it retries with backoff, holds a concurrency slot per
// request, checks the daily budget before each request and records usage.
func (l *LLM) ChatWithTools(ctx context.Context, system, user string, tools []Tool, call ToolCaller, o ToolChatOptions) (string, Usage, error) {
	var total Usage
	if l == nil {
		return "", total, ErrNotConfigured
	}
	if o.MaxRounds <= 0 {
		o.MaxRounds = 4
	}
	if o.MaxTotalTokens <= 0 {
		o.MaxTotalTokens = 8000
	}
	masker := NewMasker()
	mask := func(s string) string {
		if l.cfg.DisablePIIMasking {
			return s
		}
		return masker.Mask(s)
	}
	defs := make([]openai.Tool, 0, len(tools))
	for _, t := range tools {
		params := t.Parameters
		if params == nil {
			params = &Schema{Type: "object", Properties: map[string]*Schema{}}
		}
		defs = append(defs, openai.Tool{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
			Name: t.Name, Description: t.Description, Parameters: params,
		}})
	}
	msgs := []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: mask(system)},
		{Role: openai.ChatMessageRoleUser, Content: mask(user)},
	}
	for round := 0; ; round++ {
		if err := l.checkBudget(ctx); err != nil {
			return "", total, err
		}
		final := round >= o.MaxRounds || total.TotalTokens >= o.MaxTotalTokens
		req := openai.ChatCompletionRequest{
			Model:       l.cfg.Model,
			Messages:    msgs,
			MaxTokens:   l.cfg.MaxTokens,
			Temperature: l.cfg.Temperature,
		}
		if !final {
			req.Tools = defs
		}
		msg, u, err := l.chatMessage(ctx, req)
		total.add(u)
		if err != nil {
			return "", total, err
		}
		if len(msg.ToolCalls) == 0 || final {
			if msg.Content == "" {
				return "", total, ErrNoAnswer
			}
			return masker.Unmask(stripFences(msg.Content)), total, nil
		}
		msgs = append(msgs, openai.ChatCompletionMessage{
			Role: openai.ChatMessageRoleAssistant, Content: msg.Content, ToolCalls: msg.ToolCalls,
		})
		for _, tc := range msg.ToolCalls {
			args := json.RawMessage(masker.Unmask(tc.Function.Arguments))
			if !json.Valid(args) {
				args = json.RawMessage("{}")
			}
			out, err := call(ctx, tc.Function.Name, args)
			if err != nil {
				return "", total, fmt.Errorf("nlp: tool %s: %w", tc.Function.Name, err)
			}
			msgs = append(msgs, openai.ChatCompletionMessage{
				Role: openai.ChatMessageRoleTool, ToolCallID: tc.ID, Name: tc.Function.Name, Content: mask(out),
			})
		}
	}
}

// chatMessage sends one request with the same retries, backoff and usage
// accounting as chat, and returns the whole answer message.
func (l *LLM) chatMessage(ctx context.Context, req openai.ChatCompletionRequest) (openai.ChatCompletionMessage, Usage, error) {
	var u Usage
	var lastErr error
	for attempt := 1; attempt <= l.cfg.MaxAttempts; attempt++ {
		resp, retryAfter, err := l.once(ctx, req)
		u.Requests++
		if err == nil {
			var msg openai.ChatCompletionMessage
			if len(resp.Choices) > 0 {
				msg = resp.Choices[0].Message
			}
			ru := Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens, TotalTokens: resp.Usage.TotalTokens}
			if ru.TotalTokens == 0 {
				ru = estimateUsage(req.Messages, msg.Content)
			}
			u.add(ru)
			if aerr := l.cfg.Accountant.AddUsage(ctx, l.Day(), customerFrom(ctx), ru); aerr != nil {
				l.cfg.Logger.Error("record llm usage", "err", aerr)
			}
			return msg, u, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return openai.ChatCompletionMessage{}, u, fmt.Errorf("nlp: llm request: %w", ctx.Err())
		}
		if !retryable(err) || attempt == l.cfg.MaxAttempts {
			break
		}
		delay := l.backoff(attempt)
		if retryAfter > 0 {
			delay = min(retryAfter, l.cfg.MaxRetryAfter)
		}
		l.cfg.Logger.Warn("llm request failed, retrying", "model", l.cfg.Model, "attempt", attempt,
			"delay", delay.String(), "status", statusOf(err))
		if err := l.sleep(ctx, delay); err != nil {
			return openai.ChatCompletionMessage{}, u, fmt.Errorf("nlp: llm request: %w", err)
		}
	}
	return openai.ChatCompletionMessage{}, u, fmt.Errorf("%w: %d attempts, last: %w", ErrUnavailable, u.Requests, lastErr)
}
