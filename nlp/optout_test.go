package nlp

import "testing"

// The rule set is tested on phrasings that appear nowhere in its rules or
// their comments (held out), and on sentences that share words with a
// refusal but are not one.
func TestOptOutPhraseHeldOut(t *testing.T) {
	yes := []string{
		"以后不要再给我发这些了",
		"请停止推送，谢谢",
		"你们天天发广告烦不烦，别发了！",
		"别老是群发好吗",
		"不需要这类消息",
		"退订谢谢",
		"请勿打扰",
		"别再骚扰我了",
		"TD",
		"我不想再收到你们的活动信息",
		"不用再推给我了",
		"能不能别总给我发消息",
		"以后这种群发就不用发我了",
		"取消关注吧，不想收这些",
	}
	no := []string{
		"不要发票",
		"别发错地址了，发到公司",
		"什么时候发货？",
		"不需要推荐别的款式",
		"好的，收到",
		"我想了解一下价格",
		"别担心，我下周再联系你",
		"今天不用联系物流",
		"不想收货了",
		"我不要收据",
		"别发我那份报价，发给王总",
	}
	for _, s := range yes {
		if OptOutPhrase(s) == "" {
			t.Errorf("OptOutPhrase(%q) = \"\", want a refusal", s)
		}
	}
	for _, s := range no {
		if m := OptOutPhrase(s); m != "" {
			t.Errorf("OptOutPhrase(%q) = %q, want none", s, m)
		}
	}
}
