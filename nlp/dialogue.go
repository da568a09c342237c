package nlp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Dialogue is a conversation given as JSON, e.g. to `scrm analyze summary`.
type Dialogue struct {
	Messages []Message
	Summary  string // a previous rolling summary, if any
}

// ParseDialogue reads one dialogue in any of the shapes operators and
// evaluation sets use:
//
//	[{"role":"customer","text":"…"}, …]                 messages
//	["用户:…", "客服:…"]                                  prefixed lines
//	{"messages": […], "summary": "…"}                    with a previous summary
//	{"Dialogue": "用户:…[SEP][CLS]客服:…"}                 CSDS
//	{"dialogue": "客户：…\n销售：…"}                        one line per turn
//
// Roles may be customer/staff, user/assistant/agent, or 用户/客户/顾客 and
// 客服/员工/销售/商家; "speaker", "from" and "sender" name the role, and
// "content" or "message" the text.
func ParseDialogue(data []byte) (Dialogue, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return Dialogue{}, fmt.Errorf("nlp: dialogue is not JSON: %w", err)
	}
	var d Dialogue
	switch x := v.(type) {
	case []any:
		d.Messages = messagesFrom(x)
	case map[string]any:
		for _, k := range []string{"summary", "prev", "previous_summary", "prev_summary"} {
			if s, ok := x[k].(string); ok {
				d.Summary = s
				break
			}
		}
		for _, k := range []string{"messages", "Dialogue", "dialogue", "turns", "utterances", "conversation", "content", "text"} {
			switch y := x[k].(type) {
			case []any:
				d.Messages = messagesFrom(y)
			case string:
				d.Messages = messagesFromText(y)
			default:
				continue
			}
			break
		}
	case string:
		d.Messages = messagesFromText(x)
	}
	if len(d.Messages) == 0 {
		return d, errors.New("nlp: dialogue has no messages")
	}
	return d, nil
}

func messagesFrom(items []any) []Message {
	var out []Message
	for _, it := range items {
		switch m := it.(type) {
		case string:
			out = append(out, messagesFromText(m)...)
		case map[string]any:
			var msg Message
			for _, k := range []string{"role", "speaker", "from", "sender", "who"} {
				if s, ok := m[k].(string); ok {
					msg.Role = normalizeRole(s)
					break
				}
			}
			for _, k := range []string{"text", "content", "message", "msg", "utterance"} {
				if s, ok := m[k].(string); ok {
					msg.Text = s
					break
				}
			}
			for _, k := range []string{"at", "time", "timestamp"} {
				if s, ok := m[k].(string); ok {
					if t, err := time.Parse(time.RFC3339, s); err == nil {
						msg.At = t
					}
					break
				}
			}
			if msg.Role == "" {
				msg.Role, msg.Text = splitSpeaker(msg.Text)
			}
			if strings.TrimSpace(msg.Text) != "" {
				out = append(out, msg)
			}
		}
	}
	return out
}

// messagesFromText splits "用户:…[SEP][CLS]客服:…" or one turn per line.
func messagesFromText(s string) []Message {
	s = strings.ReplaceAll(s, "[CLS]", "")
	var out []Message
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' }) {
		for _, turn := range strings.Split(part, "[SEP]") {
			role, text := splitSpeaker(strings.TrimSpace(turn))
			if strings.TrimSpace(text) != "" {
				out = append(out, Message{Role: role, Text: strings.TrimSpace(text)})
			}
		}
	}
	return out
}

// splitSpeaker reads a "客服:" style prefix; without one the speaker is the customer.
func splitSpeaker(s string) (role, text string) {
	for _, sep := range []string{":", "："} {
		if i := strings.Index(s, sep); i > 0 && i <= 12 {
			if r := normalizeRole(s[:i]); r != "" {
				return r, strings.TrimSpace(s[i+len(sep):])
			}
		}
	}
	return RoleCustomer, s
}

func normalizeRole(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "customer", "user", "client", "用户", "客户", "顾客", "买家", "访客":
		return RoleCustomer
	case "staff", "assistant", "agent", "sales", "bot", "客服", "员工", "销售", "商家", "卖家", "顾问", "我":
		return RoleStaff
	}
	return ""
}

// ParseDialogueLines reads one dialogue pasted as plain text, one turn per
// line, each starting with a speaker label and a colon (ASCII or full-width):
//
//	客户：请问这款还有货吗？
//	销售：有的，今天下单明天发。
//	      也可以到店自提。
//
// A line without a label continues the turn before it; blank lines are
// skipped. The labels are 客户/用户/顾客/买家/访客 for the customer and
// 销售/客服/员工/商家/卖家/顾问 for the staff. It returns an error when the
// first non-blank line names no speaker or there is no message at all.
func ParseDialogueLines(text string) (Dialogue, error) {
	var d Dialogue
	for n, line := range strings.Split(strings.TrimPrefix(text, "\ufeff"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if role, rest, ok := lineSpeaker(line); ok {
			d.Messages = append(d.Messages, Message{Role: role, Text: rest})
			continue
		}
		if len(d.Messages) == 0 {
			return Dialogue{}, fmt.Errorf("nlp: dialogue line %d names no speaker (start it with 客户： or 销售：)", n+1)
		}
		last := &d.Messages[len(d.Messages)-1]
		if last.Text == "" {
			last.Text = line
		} else {
			last.Text += "\n" + line
		}
	}
	out := d.Messages[:0]
	for _, m := range d.Messages {
		if m.Text != "" {
			out = append(out, m)
		}
	}
	d.Messages = out
	if len(d.Messages) == 0 {
		return d, errors.New("nlp: dialogue has no messages")
	}
	return d, nil
}

// lineLabels are the speaker labels ParseDialogueLines accepts; fewer than
// normalizeRole knows, since a continuation line may well start with 我：.
var lineLabels = map[string]string{
	"客户": RoleCustomer, "用户": RoleCustomer, "顾客": RoleCustomer, "买家": RoleCustomer, "访客": RoleCustomer,
	"销售": RoleStaff, "客服": RoleStaff, "员工": RoleStaff, "商家": RoleStaff, "卖家": RoleStaff, "顾问": RoleStaff,
}

func lineSpeaker(line string) (role, rest string, ok bool) {
	for label, r := range lineLabels {
		after, found := strings.CutPrefix(line, label)
		if !found {
			continue
		}
		after = strings.TrimLeft(after, " \t")
		for _, colon := range []string{":", "："} {
			if t, ok := strings.CutPrefix(after, colon); ok {
				return r, strings.TrimSpace(t), true
			}
		}
	}
	return "", "", false
}
