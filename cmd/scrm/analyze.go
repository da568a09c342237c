package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/scrmhq/scrm/nlp"
)

// newAnalyzeCmd is `scrm analyze sentiment|promises|summary`: conversation
// analysis for operators and evaluation. Each reads standard input and writes
// JSON Lines, using the LLM configured by SCRM_LLM_BASE_URL, SCRM_LLM_API_KEY
// and SCRM_LLM_MODEL when there is one (unless --offline) and the embedded
// offline models otherwise or when the LLM fails.
func newAnalyzeCmd() *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Analyze Chinese conversations: sentiment, promises, summaries (JSON Lines on stdout)",
	}
	cmd.PersistentFlags().BoolVar(&offline, "offline", false, "use the embedded offline models even if an LLM is configured")

	sentiment := &cobra.Command{
		Use:   "sentiment",
		Short: `One text per input line → {"text","label","intensity","display","score"}`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := analyzeAnalyzer(offline, time.Now)
			if err != nil {
				return err
			}
			return eachLine(cmd.InOrStdin(), cmd.OutOrStdout(), func(line string) (any, error) {
				res, err := a.AnalyzeSentiment(cmd.Context(), line)
				if err != nil {
					return nil, err
				}
				intensity := ""
				if res.Label != nlp.Neutral {
					intensity = nlp.Intensity(res.Score)
				}
				return struct {
					Text      string  `json:"text"`
					Label     string  `json:"label"`
					Intensity string  `json:"intensity,omitempty"` // 弱, 中 or 强; none for neutral
					Display   string  `json:"display"`             // "负面·强", "中性"
					Score     float64 `json:"score"`
				}{line, res.Label, intensity, res.Display(), res.Score}, nil
			})
		},
	}

	var nowFlag, whoFlag string
	promises := &cobra.Command{
		Use:   "promises",
		Short: `One message per input line → {"text","promises":[{"action","due","who","owner"}]}`,
		Long: "One message per input line, as plain text said by --who, or as a JSON object\n" +
			`{"text":…,"who":"customer|staff","at":"RFC3339","auto":false}. Due times are resolved against "at",` + "\n" +
			"else --now (default: the current time), in SCRM_TIMEZONE (default Asia/Shanghai). A promise's \"who\"\n" +
			"is who said it, \"owner\" the party that owes it (a customer's request with a deadline is owed by staff).\n" +
			"A message with \"auto\":true (off-hours reply, FAQ answer) is automatic and never read.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			if nowFlag != "" {
				t, err := time.Parse(time.RFC3339, nowFlag)
				if err != nil {
					return fmt.Errorf("analyze promises: --now must be RFC 3339 (2026-11-24T10:00:00+08:00): %w", err)
				}
				now = t
			}
			who := whoFlag
			if who != nlp.RoleCustomer && who != nlp.RoleStaff {
				return fmt.Errorf("analyze promises: --who must be %s or %s", nlp.RoleCustomer, nlp.RoleStaff)
			}
			a, err := analyzeAnalyzer(offline, func() time.Time { return now })
			if err != nil {
				return err
			}
			type promiseOut struct {
				Action string `json:"action"`
				Due    string `json:"due"`
				Who    string `json:"who"`
				Owner  string `json:"owner"`
			}
			return eachLine(cmd.InOrStdin(), cmd.OutOrStdout(), func(line string) (any, error) {
				msg := nlp.Message{Role: who, Text: line, At: now}
				if strings.HasPrefix(line, "{") {
					var in struct {
						Text string `json:"text"`
						Who  string `json:"who"`
						Role string `json:"role"`
						At   string `json:"at"`
						Auto bool   `json:"auto"`
					}
					if err := json.Unmarshal([]byte(line), &in); err == nil && in.Text != "" {
						msg.Text = in.Text
						if r := in.Who + in.Role; r == nlp.RoleCustomer || r == nlp.RoleStaff {
							msg.Role = r
						}
						if t, err := time.Parse(time.RFC3339, in.At); err == nil {
							msg.At = t
						}
						msg.Auto = in.Auto
					}
				}
				res, err := a.ExtractPromises(cmd.Context(), msg)
				if err != nil {
					return nil, err
				}
				out := struct {
					Text     string       `json:"text"`
					Promises []promiseOut `json:"promises"`
				}{Text: msg.Text, Promises: []promiseOut{}}
				for _, p := range res.Promises {
					out.Promises = append(out.Promises, promiseOut{p.Action, p.Due.Format(time.RFC3339), p.Who, p.Owner})
				}
				return out, nil
			})
		},
	}
	promises.Flags().StringVar(&nowFlag, "now", "", "the messages' time, RFC 3339 (default: now)")
	promises.Flags().StringVar(&whoFlag, "who", nlp.RoleCustomer, "who says the plain-text lines: customer or staff")

	summary := &cobra.Command{
		Use:   "summary",
		Short: `One dialogue on stdin, as JSON (several may follow each other) or pasted lines → {"summary"}`,
		Long: "Reads one dialogue as JSON — a list of {\"role\",\"text\"} messages, {\"messages\":[…],\"summary\":…},\n" +
			"CSDS-style {\"Dialogue\":\"用户:…[SEP]客服:…\"} or lines \"客户：…\" — and writes its summary.\n" +
			"A \"summary\" field is taken as the previous rolling summary to update. Input that is not JSON is read\n" +
			"as pasted lines, each starting with a speaker (客户/用户/顾客 or 销售/客服) and a colon; a line\n" +
			"without one continues the line before.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := analyzeAnalyzer(offline, time.Now)
			if err != nil {
				return err
			}
			return summarizeInput(cmd.Context(), a, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}

	cmd.AddCommand(sentiment, promises, summary)
	return cmd
}

// maxPastedDialogue bounds a dialogue pasted as plain lines, which is read
// whole.
const maxPastedDialogue = 16 << 20

// summarizeInput writes the summary of each dialogue on in: JSON values one
// after another, or, when the input does not start like JSON, one dialogue
// pasted as "客户：…" lines.
func summarizeInput(ctx context.Context, a *nlp.Analyzer, in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	// The first character tells the two apart: JSON starts with { [ or ".
	var first rune
	for {
		r, _, err := br.ReadRune()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("analyze summary: no dialogue on standard input")
			}
			return fmt.Errorf("analyze summary: read input: %w", err)
		}
		if r != '\ufeff' && !unicode.IsSpace(r) {
			first = r
			_ = br.UnreadRune()
			break
		}
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	summarize := func(n int, d nlp.Dialogue) error {
		res, err := a.Summarize(ctx, d.Summary, d.Messages)
		if err != nil {
			return fmt.Errorf("analyze summary: dialogue %d: %w", n, err)
		}
		if err := enc.Encode(struct {
			Summary string `json:"summary"`
		}{res.Text}); err != nil {
			return fmt.Errorf("analyze summary: write: %w", err)
		}
		return nil
	}
	if first != '{' && first != '[' && first != '"' {
		b, err := io.ReadAll(io.LimitReader(br, maxPastedDialogue+1))
		if err != nil {
			return fmt.Errorf("analyze summary: read input: %w", err)
		}
		if len(b) > maxPastedDialogue {
			return fmt.Errorf("analyze summary: pasted dialogue longer than %d MiB", maxPastedDialogue>>20)
		}
		d, err := nlp.ParseDialogueLines(string(b))
		if err != nil {
			return fmt.Errorf("analyze summary: input is neither JSON nor 客户：/销售： lines: %w", err)
		}
		return summarize(1, d)
	}
	dec := json.NewDecoder(br)
	for n := 0; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("analyze summary: read dialogue %d: %w", n+1, err)
		}
		d, err := nlp.ParseDialogue(raw)
		if err != nil {
			return fmt.Errorf("analyze summary: dialogue %d: %w", n+1, err)
		}
		if err := summarize(n+1, d); err != nil {
			return err
		}
	}
}

// analyzeAnalyzer builds the Analyzer from the environment; the lead moves
// this to config once the root command passes it.
func analyzeAnalyzer(offline bool, now func() time.Time) (*nlp.Analyzer, error) {
	opts := nlp.AnalyzerOptions{Location: nlp.BusinessLocation(os.Getenv("SCRM_TIMEZONE")), Now: now}
	if offline || os.Getenv("SCRM_LLM_MODEL") == "" {
		return nlp.NewAnalyzer(nil, opts), nil
	}
	llm, err := nlp.NewLLM(nlp.LLMConfig{
		BaseURL:  os.Getenv("SCRM_LLM_BASE_URL"),
		APIKey:   os.Getenv("SCRM_LLM_API_KEY"),
		Model:    os.Getenv("SCRM_LLM_MODEL"),
		Location: opts.Location,
	})
	if err != nil {
		return nil, fmt.Errorf("analyze: configure LLM: %w", err)
	}
	return nlp.NewAnalyzer(llm, opts), nil
}

// eachLine runs fn on every non-empty input line and writes its result as
// one JSON line.
func eachLine(in io.Reader, out io.Writer, fn func(line string) (any, error)) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" {
			continue
		}
		v, err := fn(line)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("analyze: line %d: %w", n, err)
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("analyze: write: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("analyze: read input: %w", err)
	}
	return nil
}
