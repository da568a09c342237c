package nlp

import (
	"regexp"
	"strings"
	"unicode"
)

// Opt-out (不打扰) detection: a customer who writes "别再发了", "不要再推送",
// "退订" or the like asks the company to stop mass messages. The rules are a
// small grammar rather than a list of sentences — a refusal word, optional
// fillers ("再", "给我"), then a sending verb — so phrasings nobody listed
// still match, while "不要发票" or "别发错地址" (a refusal word before 发
// that is not about messages) do not: 发 and 推 count only when what follows
// is the end of the clause or a word about messages.

var (
	optOutNeg  = `(?:别|不要|不用|不必|勿|请勿|停止|不想|不需要|不再|禁止|甭|莫|少)`
	optOutFill = `(?:再|再给我|给我|跟我|向我|对我|我|总|总是|老|老是|天天|一直|都|们|你们|了)*`
	// 发 and 推 are common in other words (发票, 发货, 推荐); they count only
	// before a clause end or a word about messages.
	// "发我" counts only at the clause end ("别再发我啦"), not before what is
	// sent ("别发我地址").
	optOutSendTail = `(?:[了啦吧呀啊呢哦么嘛这那些类种个$]|消息|信息|广告|短信|通知|东西|推送|群发|内容|活动|营销|给我|我(?:[了啦吧呀啊]|$))`
	optOutRules    = []*regexp.Regexp{
		regexp.MustCompile(optOutNeg + optOutFill + `(?:发|推)` + optOutSendTail),
		regexp.MustCompile(optOutNeg + optOutFill + `(?:推送|群发|打扰|骚扰|营销|轰炸|联系我|给我发|发给我)`),
		regexp.MustCompile(`(?:不需要|不要|不想要|不想看)(?:再)?(?:这|那)?(?:些|类|种|样的)?(?:消息|广告|推送|群发|营销)`),
		regexp.MustCompile(`(?:退订|取消订阅|取消推送|关闭推送|拒收|免打扰|屏蔽你们|拉黑你们|别烦我|不想收到|不再接收|不想再收|不要再收)`),
		// Refusing to receive: "不愿意收你们的", "别再收到通知"; 收 alone is
		// also 收货/收据, so what follows must be about messages.
		regexp.MustCompile(`(?:不想|不要|不愿意?|不再|别再)再?(?:收|接收)到?(?:这|那|你们|消息|信息|广告|推送|群发|通知|了|$)`),
		regexp.MustCompile(`^(?:回复)?(?:td|t)$`), // the SMS convention: "TD" alone
	}
)

// optOutClean lowercases s and drops spaces and punctuation, keeping the
// clause ends the rules look for as "。".
func optOutClean(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsSpace(r):
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			b.WriteRune('。')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// OptOutPhrase returns the part of text that asks to stop being messaged,
// "" when none does. The match is what a timeline entry quotes as the
// reason.
func OptOutPhrase(text string) string {
	if len(text) > 2000 { // a long message is a conversation, not a refusal
		text = text[:2000]
	}
	for _, clause := range strings.Split(optOutClean(text), "。") {
		if clause == "" {
			continue
		}
		// The tail rule treats the clause end as "$": the clause is matched
		// on its own.
		for _, re := range optOutRules {
			if m := re.FindString(clause); m != "" {
				return m
			}
		}
	}
	return ""
}
