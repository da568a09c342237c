package nlp

import "testing"

func TestParseDialogue(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		roles string // c = customer, s = staff
		first string
		prev  string
	}{
		{"messages", `[{"role":"customer","text":"多少钱"},{"role":"staff","text":"999元"}]`, "cs", "多少钱", ""},
		{"speaker content", `[{"speaker":"客服","content":"您好"},{"from":"用户","message":"在吗"}]`, "sc", "您好", ""},
		{"prefixed strings", `["用户:在吗","客服:在的"]`, "cs", "在吗", ""},
		{"csds", `{"Dialogue":"用户:咨询订单号[SEP][CLS]客服:请稍等[SEP][CLS]用户:好的"}`, "csc", "咨询订单号", ""},
		{"lines with summary", `{"dialogue":"客户：想买电脑\n销售：好的","summary":"需求：电脑"}`, "cs", "想买电脑", "需求：电脑"},
		{"object messages", `{"messages":[{"role":"assistant","text":"您好"},{"role":"user","text":"报价呢"}]}`, "sc", "您好", ""},
		{"no role prefix", `["只有一句话"]`, "c", "只有一句话", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseDialogue([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			roles := ""
			for _, m := range d.Messages {
				if m.Role == RoleStaff {
					roles += "s"
				} else {
					roles += "c"
				}
			}
			if roles != c.roles || d.Messages[0].Text != c.first || d.Summary != c.prev {
				t.Errorf("got roles %q first %q prev %q", roles, d.Messages[0].Text, d.Summary)
			}
		})
	}
	for _, bad := range []string{`not json`, `[]`, `{"x":1}`} {
		if _, err := ParseDialogue([]byte(bad)); err == nil {
			t.Errorf("ParseDialogue(%s) accepted", bad)
		}
	}
}

func TestParseDialogueLines(t *testing.T) {
	in := "\ufeff客户：请问这款还有货吗？\n销售: 有的，今天下单明天发。\n  也可以到店自提。\n\n客服：地址发您\n我：这行接着上一句\n用户 ：好的"
	d, err := ParseDialogueLines(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{Role: RoleCustomer, Text: "请问这款还有货吗？"},
		{Role: RoleStaff, Text: "有的，今天下单明天发。\n也可以到店自提。"},
		{Role: RoleStaff, Text: "地址发您\n我：这行接着上一句"},
		{Role: RoleCustomer, Text: "好的"},
	}
	if len(d.Messages) != len(want) {
		t.Fatalf("messages = %+v", d.Messages)
	}
	for i, m := range d.Messages {
		if m.Role != want[i].Role || m.Text != want[i].Text {
			t.Errorf("message %d = %+v, want %+v", i, m, want[i])
		}
	}
	for _, bad := range []string{"", "\n\n", "你好\n客户：在吗", "客户：\n销售："} {
		if _, err := ParseDialogueLines(bad); err == nil {
			t.Errorf("ParseDialogueLines(%q) accepted", bad)
		}
	}
}
