package nlp

import (
	"strings"
	"unicode/utf8"
)

// Intents of a customer message.
const (
	IntentInquiry   = "询价"
	IntentComplaint = "投诉"
	IntentService   = "售后"
	IntentOrder     = "下单"
	IntentChitchat  = "闲聊"
	IntentOther     = "其他"
)

// Intents lists every intent, in the order ties are broken.
var Intents = []string{IntentComplaint, IntentService, IntentOrder, IntentInquiry, IntentChitchat, IntentOther}

var intentCues = map[string][]string{
	IntentComplaint: {"投诉", "举报", "太差", "骗", "差评", "12315", "曝光", "不满", "生气", "垃圾", "退钱",
		"什么服务", "态度", "欺诈", "坑人", "忽悠", "消协", "维权", "给个说法", "太过分", "不像话", "找你们领导"},
	IntentService: {"退货", "退款", "换货", "维修", "坏了", "安装", "保修", "发票", "物流", "快递", "发货", "到货",
		"签收", "售后", "故障", "不能用", "用不了", "坏", "修", "补发", "少发", "漏发", "破损", "开票", "收到", "单号",
		"怎么用", "使用方法", "质保", "换一个", "退回"},
	IntentOrder: {"下单", "购买", "我要买", "拍下", "付款", "付钱", "转账", "签合同", "成交", "订购", "我要了",
		"就要这个", "怎么买", "确认订单", "订了", "要了", "来一台", "来两台", "帮我下", "打款", "定金", "订金", "签约"},
	IntentInquiry: {"多少钱", "价格", "报价", "优惠", "便宜", "折扣", "价钱", "怎么卖", "贵", "价位", "预算",
		"费用", "收费", "单价", "打折", "活动", "几折", "包邮", "运费", "性价比", "价", "多少一"},
	IntentChitchat: {"你好", "您好", "在吗", "哈哈", "谢谢", "早上好", "晚安", "吃饭", "天气", "周末愉快", "辛苦",
		"嗯", "好的", "哈", "早", "晚上好", "下午好", "节日快乐", "新年快乐"},
}

// ClassifyIntent assigns one of Intents to a customer message by cue words,
// with a confidence from how clear the evidence is. An angry message about
// an after-sales problem is a complaint even without the word 投诉.
func ClassifyIntent(text string) (intent string, confidence float64) {
	t := strings.TrimSpace(text)
	if t == "" {
		return IntentOther, 0.5
	}
	scores := map[string]float64{}
	for intent, cues := range intentCues {
		for _, c := range cues {
			if strings.Contains(t, c) {
				scores[intent] += float64(utf8.RuneCountInString(c)) // longer cues are more specific
			}
		}
	}
	// An after-sales request said angrily is a complaint: several negative
	// words, or intensified ones (坏了，太慢了), not just 退货 itself.
	if lex, _ := lexiconScore(t); lex <= -1.5 && Sentiment(t).Label == Negative && scores[IntentService] > 0 {
		scores[IntentComplaint] += scores[IntentService] + 1
	}
	// Greetings only count when nothing else is said.
	if scores[IntentChitchat] > 0 && utf8.RuneCountInString(t) > 12 {
		scores[IntentChitchat] *= 0.3
	}
	best, bestScore, total := IntentOther, 0.0, 0.0
	for _, in := range Intents {
		total += scores[in]
		if scores[in] > bestScore {
			best, bestScore = in, scores[in]
		}
	}
	if bestScore == 0 {
		return IntentOther, 0.4
	}
	return best, 0.5 + 0.45*bestScore/total
}
