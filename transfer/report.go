package transfer

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Issue is one problem found in a row. Reasons are in Chinese: the people
// who fix the sheet read them.
type Issue struct {
	Row    int    `json:"row"`              // 1-based sheet row
	Column string `json:"column,omitempty"` // the header as written in the sheet
	Value  string `json:"value,omitempty"`
	Reason string `json:"reason"`
	// Rejected: the whole row was left out. Otherwise the issue is a
	// warning: the value was dropped (or noted) and the row imported.
	Rejected bool `json:"rejected"`
}

// Actions of an Outcome.
const (
	ActionCreate    = "create"
	ActionUpdate    = "update"
	ActionUnchanged = "unchanged"
)

// Outcome is what the import does (or, in a dry run, would do) for one
// customer: the rows of the sheet that describe them and the changes.
type Outcome struct {
	Action     string   `json:"action"`
	Rows       []int    `json:"rows"`
	CustomerID string   `json:"customer_id,omitempty"` // the existing customer (update) or the new one (create, after the write)
	Name       string   `json:"name,omitempty"`
	Merged     []string `json:"merged,omitempty"`  // further existing customers found to be the same person, merged into CustomerID
	Changes    []string `json:"changes,omitempty"` // in Chinese, e.g. "阶段：新线索 → 跟进中"
}

// Report is the result of an import or a dry run.
type Report struct {
	Source    string            `json:"source"`
	Encoding  string            `json:"encoding"`
	HeaderRow int               `json:"header_row"` // 1-based
	Columns   map[string]string `json:"columns"`    // header → target
	Unmapped  []string          `json:"unmapped,omitempty"`
	DryRun    bool              `json:"dry_run"`

	Rows       int `json:"rows"`        // data rows read (blank rows not counted)
	Blank      int `json:"blank"`       // blank rows skipped
	Rejected   int `json:"rejected"`    // rows left out, see Issues
	MergedRows int `json:"merged_rows"` // rows folded into another row of the same person
	Created    int `json:"created"`     // customers created
	Updated    int `json:"updated"`     // existing customers changed (merged into)
	Unchanged  int `json:"unchanged"`   // existing customers the sheet matches exactly

	Issues   []Issue   `json:"issues"`
	Outcomes []Outcome `json:"outcomes"` // creates and updates, in sheet order (unchanged ones are only counted)
	Elapsed  Duration  `json:"elapsed"`
}

// Duration marshals as a string such as "1.5s".
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).Round(time.Millisecond).String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Summary is the one-line result, in Chinese.
func (r *Report) Summary() string {
	verb := "导入完成"
	if r.DryRun {
		verb = "试运行（未写入任何数据）"
	}
	return fmt.Sprintf("%s：共 %d 行，新建 %d 位客户，更新（合并）%d 位，无变化 %d 位，拒绝 %d 行，同一客户合并 %d 行，空行 %d 行。",
		verb, r.Rows, r.Created, r.Updated, r.Unchanged, r.Rejected, r.MergedRows, r.Blank)
}

// WriteText renders the report for a terminal: the summary, the column
// mapping, the issues and the planned or applied changes, each list cut at
// limit entries (0: no limit).
func (r *Report) WriteText(w io.Writer, limit int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Summary())
	fmt.Fprintf(&b, "文件：%s（%s），表头在第 %d 行\n", r.Source, r.Encoding, r.HeaderRow)
	if len(r.Unmapped) > 0 {
		fmt.Fprintf(&b, "未识别的列（已忽略，可用映射文件指定）：%s\n", strings.Join(r.Unmapped, "、"))
	}
	cut := func(n int) int {
		if limit > 0 && n > limit {
			return limit
		}
		return n
	}
	if len(r.Issues) > 0 {
		fmt.Fprintf(&b, "\n问题（%d 条）：\n", len(r.Issues))
		for _, is := range r.Issues[:cut(len(r.Issues))] {
			kind := "警告"
			if is.Rejected {
				kind = "拒绝"
			}
			fmt.Fprintf(&b, "  第 %d 行 [%s]", is.Row, kind)
			if is.Column != "" {
				fmt.Fprintf(&b, " %s", is.Column)
			}
			if is.Value != "" {
				fmt.Fprintf(&b, "「%s」", is.Value)
			}
			fmt.Fprintf(&b, "：%s\n", is.Reason)
		}
		if n := len(r.Issues) - cut(len(r.Issues)); n > 0 {
			fmt.Fprintf(&b, "  …… 另有 %d 条\n", n)
		}
	}
	if len(r.Outcomes) > 0 {
		title := "变更"
		if r.DryRun {
			title = "将要进行的变更"
		}
		fmt.Fprintf(&b, "\n%s（%d 位客户）：\n", title, len(r.Outcomes))
		for _, o := range r.Outcomes[:cut(len(r.Outcomes))] {
			action := "新建"
			if o.Action == ActionUpdate {
				action = "更新"
			}
			fmt.Fprintf(&b, "  %s %s（第 %s 行）", action, orDash(o.Name), joinInts(o.Rows))
			if o.CustomerID != "" {
				fmt.Fprintf(&b, " 客户ID %s", o.CustomerID)
			}
			if len(o.Merged) > 0 {
				fmt.Fprintf(&b, "，合并已有客户 %s", strings.Join(o.Merged, "、"))
			}
			if len(o.Changes) > 0 {
				fmt.Fprintf(&b, "：%s", strings.Join(o.Changes, "；"))
			}
			b.WriteString("\n")
		}
		if n := len(r.Outcomes) - cut(len(r.Outcomes)); n > 0 {
			fmt.Fprintf(&b, "  …… 另有 %d 位\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteIssuesCSV writes the issues as a CSV (UTF-8 with BOM, for Excel)
// that the person fixing the sheet can sort and filter.
func (r *Report) WriteIssuesCSV(w io.Writer) error {
	if _, err := w.Write(utf8BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	_ = cw.Write([]string{"行号", "列", "值", "处理", "原因"})
	for _, is := range r.Issues {
		kind := "警告（该值已忽略）"
		if is.Rejected {
			kind = "拒绝（整行未导入）"
		}
		// Values and headers are the sheet's own text, which may be a
		// formula someone planted for whoever opens this report.
		_ = cw.Write(escapeCells([]string{strconv.Itoa(is.Row), is.Column, is.Value, kind, is.Reason}))
	}
	cw.Flush()
	return cw.Error()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "、")
}
