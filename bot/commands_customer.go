package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// stageWords are the words staff use for each stage besides its name.
var stageWords = map[string]string{
	"线索": store.StageLead, "新客户": store.StageLead,
	"跟进": store.StageActive, "跟进中": store.StageActive, "进行中": store.StageActive,
	"成交": store.StageWon, "已成交": store.StageWon, "签约": store.StageWon, "已签约": store.StageWon,
	"沉睡": store.StageDormant, "休眠": store.StageDormant,
	"流失": store.StageLost, "丢单": store.StageLost, "已流失": store.StageLost,
}

func parseStage(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if slices.Contains(Stages, s) {
		return s, true
	}
	st, ok := stageWords[s]
	return st, ok
}

// setStage is "阶段 张三 已成交": the core's ChangeStage on the customer the
// words before the stage name.
func (p *Commands) setStage(ctx context.Context, v Viewer, rest string, at time.Time, key string) (string, error) {
	usage := "格式：**阶段 客户名 阶段**，例如：阶段 张三 已成交（阶段：" + strings.Join(Stages, "、") + "）"
	i := strings.LastIndex(rest, " ")
	if i < 0 {
		return usage, nil
	}
	who, word := strings.TrimSpace(rest[:i]), strings.TrimSpace(rest[i+1:])
	stage, ok := parseStage(word)
	if !ok || who == "" {
		return usage, nil
	}
	res, err := p.resolve(ctx, v, who, at, resolveOpts{Verb: "阶段", Tail: " " + stage, Whole: true, Suffix: "阶段未修改。"})
	if err != nil || res.C == nil {
		return res.Reply, err
	}
	c := res.C
	from := stageName(c.Stage)
	_, changed, err := p.core.ChangeStage(ctx, Actor{Viewer: v, Source: SourceBot}, StageRequest{CustomerID: c.ID, Stage: stage, Key: key, At: at})
	if text, ok := refusal(err); ok {
		return text + "阶段未修改。", nil
	}
	if err != nil {
		return "", fmt.Errorf("commands: stage: %w", err)
	}
	if !changed {
		return "**" + mdName(c) + "** 已经是「" + stage + "」阶段。", nil
	}
	return "已更新 ✅ **" + mdName(c) + "** 阶段：" + from + " → " + stage, nil
}

// proposal is what an analysis proposed and did not apply
// (SCRM_ANALYSIS_APPLY=false): its timeline entry's proposed_tags and
// proposed_stage.
type proposal struct {
	entry *store.TimelineEntry
	tags  []string
	stage string
}

// latestProposal finds the customer's latest analysis entry and returns
// its unapplied proposal, nil when the latest analysis proposed nothing or
// applied it. Only the latest counts: a newer analysis supersedes older
// proposals.
func (p *Commands) latestProposal(ctx context.Context, customerID string) (*proposal, error) {
	var before int64
	for range 4 {
		page, err := p.st.FindTimeline(ctx, customerID, before, 50)
		if err != nil {
			return nil, fmt.Errorf("commands: timeline: %w", err)
		}
		for _, e := range page {
			if e.Kind != store.EntryAnalysis {
				continue
			}
			if e.Attrs["applied"] == "true" {
				return nil, nil
			}
			pr := &proposal{entry: e, stage: e.Attrs["proposed_stage"]}
			for _, t := range strings.Split(e.Attrs["proposed_tags"], ",") {
				if t = strings.TrimSpace(t); t != "" {
					pr.tags = append(pr.tags, t)
				}
			}
			if len(pr.tags) == 0 && pr.stage == "" {
				return nil, nil
			}
			return pr, nil
		}
		if len(page) < 50 {
			break
		}
		before = page[len(page)-1].ID
	}
	return nil, nil
}

// confirm is "确认 张三": the person applies the tags and the stage the
// customer's latest analysis proposed, through the core's EditTags and
// ChangeStage, as their own edits. A proposed stage applies only while the
// customer is still where the analysis saw them (a lead): a stage someone
// set since wins.
func (p *Commands) confirm(ctx context.Context, v Viewer, rest string, at time.Time, key string) (string, error) {
	if strings.TrimSpace(rest) == "" {
		return "格式：**确认 客户名**，应用会话分析建议的标签和阶段，例如：确认 张三", nil
	}
	res, err := p.resolve(ctx, v, rest, at, resolveOpts{Verb: "确认", Whole: true})
	if err != nil || res.C == nil {
		return res.Reply, err
	}
	c := res.C
	pr, err := p.latestProposal(ctx, c.ID)
	if err != nil {
		return "", err
	}
	if pr == nil {
		return "**" + mdName(c) + "** 目前没有待确认的分析建议。", nil
	}
	a := Actor{Viewer: v, Source: SourceBot}
	// The key names the analysis confirmed, so confirming twice, or a
	// redelivered command, repeats the same edits.
	ckey := fmt.Sprintf("confirm:%d", pr.entry.ID)
	var done, refused []string
	// settle files one edit's outcome: a refusal under refused, a change
	// (did is empty when nothing changed) under done; it returns any other
	// error.
	settle := func(err error, refusedAs, did string) error {
		if text, ok := refusal(err); ok {
			refused = append(refused, refusedAs+text)
			return nil
		}
		if err == nil && did != "" {
			done = append(done, did)
		}
		return err
	}
	var add []string
	for _, t := range pr.tags {
		if !slices.Contains(c.Tags, t) {
			add = append(add, t)
		}
	}
	if len(add) > 0 {
		_, err := p.core.EditTags(ctx, a, TagsRequest{CustomerID: c.ID, Add: add, LocalGroup: "智能标签", Key: ckey, At: at})
		if err := settle(err, "标签未添加：", "标签「"+md(strings.Join(add, "」「"))+"」"); err != nil {
			return "", fmt.Errorf("commands: confirm tags: %w", err)
		}
	}
	if pr.stage != "" && c.Stage != pr.stage {
		if stageName(c.Stage) != store.StageLead {
			refused = append(refused, "阶段已是「"+stageName(c.Stage)+"」，未改为「"+pr.stage+"」")
		} else {
			_, changed, err := p.core.ChangeStage(ctx, a, StageRequest{CustomerID: c.ID, Stage: pr.stage, Key: ckey,
				Reason: "确认会话分析建议", At: at})
			did := ""
			if changed {
				did = "阶段 " + stageName(c.Stage) + " → " + pr.stage
			}
			if err := settle(err, "阶段未修改：", did); err != nil {
				return "", fmt.Errorf("commands: confirm stage: %w", err)
			}
		}
	}
	var b strings.Builder
	if len(done) > 0 {
		b.WriteString("已确认 ✅ **" + mdName(c) + "**：" + strings.Join(done, "；"))
	} else {
		b.WriteString("**" + mdName(c) + "** 的分析建议已经生效，无需再确认。")
	}
	for _, r := range refused {
		b.WriteString("\n> " + r)
	}
	return b.String(), nil
}

// sameDay reports whether a and b fall on one day in loc.
func sameDay(a, b time.Time, loc *time.Location) bool {
	x, y := a.In(loc), b.In(loc)
	return x.Year() == y.Year() && x.YearDay() == y.YearDay()
}
