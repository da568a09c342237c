package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

type apiQuickReply struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	Title string `json:"title"`
	Text  string `json:"text"`
	Uses  int64  `json:"uses"`
}

// TestConsoleQuickReplies drives 话术库 in headless Chromium: a manager sees
// the library grouped with its usage counts, searches it, and adds a script
// through the dialog (a variable inserted by its button), which
// GET /api/v1/quick-replies then answers; a salesperson finds the page in
// the menu and reads the same scripts with no way to change them.
// Screenshots at 1280 px (list, dialog, the salesperson's view).
func TestConsoleQuickReplies(t *testing.T) {
	e := newConsoleEnv(t)
	var first apiQuickReply
	for i, body := range []string{
		`{"group":"开场白","title":"首次问候","text":"#客户昵称#您好，我是#员工姓名#，很高兴为您服务。"}`,
		`{"group":"售后","title":"退换货说明","text":"签收后 7 天内可无理由退换，请保留好包装。"}`,
	} {
		var q apiQuickReply
		if code := e.apiJSON(t, "POST", "/api/v1/quick-replies", body, &q); code != 201 {
			t.Fatalf("seed quick reply: %d %+v", code, q)
		}
		if i == 0 {
			first = q
		}
	}
	for range 2 {
		if code := e.apiJSON(t, "POST", "/api/v1/quick-replies/"+first.ID+"/used", "", nil); code != 200 {
			t.Fatalf("count a use: %d", code)
		}
	}
	title, group := "报价跟进", "报价"
	t.Run("manager", func(t *testing.T) {
		tab := e.tab(t, 1280)
		e.signIn(t, tab, "limin", "")
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/quick-replies"), settled,
			waitJS("both groups", `document.querySelectorAll('.qr-group').length === 2`),
			waitJS("the usage count", fmt.Sprintf(`document.querySelector('[data-reply=%q] .qr-uses').innerText === '已用 2 次'`, first.ID)),
			waitJS("edit buttons", `document.querySelectorAll('.qr-item .edit-reply').length === 2 && !!document.querySelector('.new-reply')`),
		); err != nil {
			e.shot(t, tab, "console-quick-replies-failed.png")
			t.Fatal(err)
		}
		if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS(".qr-search input"), "退换"),
			waitJS("the search's one match", `document.querySelectorAll('.qr-item').length === 1 && document.querySelector('.qr-group').dataset.group === '售后'`),
			click(".qr-search .el-input__clear"),
			waitJS("the whole library again", `document.querySelectorAll('.qr-item').length === 2`),
		); err != nil {
			e.shot(t, tab, "console-quick-replies-search-failed.png")
			t.Fatal(err)
		}
		if err := chromedp.Do(tab, click(".new-reply"), waitJS("the dialog", `!!document.querySelector('.reply-dialog .f-title input') && document.querySelector('.reply-dialog').offsetParent`),
			chromedp.SendKeys(chromedp.CSS(".reply-dialog .f-group input"), group+"\r"),
			chromedp.SendKeys(chromedp.CSS(".reply-dialog .f-title input"), title),
			click(".reply-dialog .insert-var"),
			chromedp.SendKeys(chromedp.CSS(".reply-dialog .f-text textarea"), "，报价单已发您，有疑问随时找我。"),
			chromedp.Sleep(200*time.Millisecond),
		); err != nil {
			e.shot(t, tab, "console-quick-replies-dialog-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-quick-replies-dialog-1280.png")
		if err := chromedp.Do(tab, click(".reply-dialog .save-reply"),
			waitJS("the third script", `document.querySelectorAll('.qr-item').length === 3 && document.querySelectorAll('.qr-group').length === 3`), settled,
			chromedp.Sleep(300*time.Millisecond)); err != nil {
			e.shot(t, tab, "console-quick-replies-save-failed.png")
			t.Fatal(err)
		}
		var list struct {
			Items []apiQuickReply `json:"items"`
		}
		e.apiJSON(t, "GET", "/api/v1/quick-replies", "", &list)
		i := slices.IndexFunc(list.Items, func(q apiQuickReply) bool { return q.Title == title })
		if i < 0 {
			t.Fatalf("no quick reply %s in %+v", title, list.Items)
		}
		if q := list.Items[i]; q.Group != group || q.Text != "#客户昵称#，报价单已发您，有疑问随时找我。" || q.Uses != 0 {
			t.Errorf("quick reply = %+v", q)
		}
		e.shot(t, tab, "console-quick-replies-1280.png")
	})
	t.Run("sales", func(t *testing.T) {
		tab := e.tab(t, 1280)
		e.signIn(t, tab, "wangfang", "")
		if !js[bool](tab, t, `document.querySelector('.nav').innerText.includes('话术库')`) {
			t.Error("a salesperson's menu has no 话术库")
		}
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/quick-replies"), settled,
			waitJS("the scripts", fmt.Sprintf(`document.querySelectorAll('.qr-item').length === 3 && document.querySelector('.quick-replies').innerText.includes(%q)`, title)),
		); err != nil {
			e.shot(t, tab, "console-quick-replies-sales-failed.png")
			t.Fatal(err)
		}
		if n := js[int](tab, t, `document.querySelectorAll('.new-reply, .edit-reply, .delete-reply, .qr-actions').length`); n != 0 {
			t.Errorf("a salesperson sees %d edit controls", n)
		}
		e.shot(t, tab, "console-quick-replies-sales-1280.png")
	})
}
