package bot_test

import (
	"strings"
	"testing"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// markdownMarks are what would make WeCom render a customer's words as a
// link, bold text, a colour, a heading, a quote or code in a message that
// comes from the company's own bot.
var markdownMarks = []string{"](", "**钓鱼", "<font", "`", "\n#", "\n>>", "[点"}

// TestCustomerTextReachesStaffAsPlainText is issue #11's finding 6: a
// customer who puts WeCom markdown in their nickname or their message must
// not be able to phish staff through the bot's forward or the customer card.
// The messages are read as the simulator received them from the real client.
func TestCustomerTextReachesStaffAsPlainText(t *testing.T) {
	h := newIB(t, ibOptions{})
	const name = "**钓鱼**[点我](http://evil.example)"
	const text = "<font color=\"warning\">系统通知</font>\n# 账号异常\n> 请立即 [点此验证](http://evil.example/login) `code`"
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oEvil", UnionID: "uEvil", Nickname: name})
	h.contact("sales1", "wmEvil", name, "uEvil")
	h.customerOA("oEvil", text)

	var fw string
	for _, m := range h.sim.SentTo("sales1") {
		if m.MsgType == "markdown" && strings.Contains(m.Content, "发来消息") {
			fw = m.Content
		}
	}
	if fw == "" {
		t.Fatalf("no forward reached the owner: %+v", h.sim.SentTo("sales1"))
	}
	for _, mark := range markdownMarks {
		if strings.Contains(fw, mark) {
			t.Errorf("forward carries the customer's markdown %q:\n%s", mark, fw)
		}
	}
	// The words themselves still reach staff, and the line structure is the
	// bot's: header, one quoted line, the reply hint.
	for _, want := range []string{"钓鱼", "点此验证", "系统通知", "账号异常", "evil.example/login"} {
		if !strings.Contains(fw, want) {
			t.Errorf("forward lost the customer's words %q:\n%s", want, fw)
		}
	}
	if lines := strings.Split(fw, "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "> ") {
		t.Errorf("forward lines %q, want header, one quote, reply hint", lines)
	}
	// A name markdown would render is never offered as a handle to type.
	if strings.Contains(fw, "回 "+name) || !strings.Contains(fw, "回 #") {
		t.Errorf("reply hint must use the customer's number:\n%s", fw)
	}

	card := h.staffSays("sales1", "查 钓鱼")
	for _, mark := range markdownMarks {
		if strings.Contains(card, mark) {
			t.Errorf("customer card carries the customer's markdown %q:\n%s", mark, card)
		}
	}
	if !strings.Contains(card, "系统通知") {
		t.Errorf("customer card lost the message:\n%s", card)
	}
}
