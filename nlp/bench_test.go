package nlp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// conversation1000 builds a 1,000-message sales conversation from varied
// customer and staff lines.
func conversation1000() []Message {
	customer := []string{
		"你好，在吗？",
		"我们公司想采购%d台笔记本电脑，有什么推荐的型号吗？",
		"这个配置的价格是多少？能不能便宜一点",
		"比别家贵了%d块，有点担心性价比",
		"保修期是多久？坏了上门维修吗？",
		"好的，那我明天下午三点前给你们确认数量",
		"发票可以开增值税专用发票吗",
		"上次的货到现在还没发，什么情况？",
		"服务态度很好，谢谢你们",
		"我下周三再联系你，先跟老板汇报一下",
		"合同我们法务还在看，月底前签",
		"收到，质量不错，同事都很满意",
		"物流太慢了，等了一个星期，非常失望",
		"可以先寄个样品吗？地址发你了",
		"嗯嗯，好的",
	}
	staff := []string{
		"您好，很高兴为您服务",
		"推荐您看一下这款，性能和续航都不错",
		"批量采购可以申请企业优惠价，比官网低百分之%d",
		"保修三年，全国联保，支持上门维修",
		"我明天上午把正式报价发给您",
		"可以开专票，请把开票信息发我一下",
		"非常抱歉，我马上帮您查一下物流，半小时后回复您",
		"样品今天下午寄出，3天内到",
		"好的，有问题随时联系我",
		"下周一下午两点我们上门演示",
	}
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, shanghai())
	msgs := make([]Message, 0, 1000)
	fill := func(tmpl string, n int) string {
		if strings.Contains(tmpl, "%d") {
			return fmt.Sprintf(tmpl, n)
		}
		return tmpl
	}
	for i := 0; i < 1000; i++ {
		at := base.Add(time.Duration(i) * 17 * time.Minute)
		if i%3 == 2 {
			msgs = append(msgs, Message{Role: RoleStaff, Text: fill(staff[i%len(staff)], 5+i%10), At: at})
		} else {
			msgs = append(msgs, Message{Role: RoleCustomer, Text: fill(customer[i%len(customer)], 10+i%90), At: at})
		}
	}
	return msgs
}

// analyzeOffline is the offline analysis of a conversation: sentiment and
// promises for every message and one summary.
func analyzeOffline(msgs []Message) (int, Summary) {
	promises := 0
	for _, m := range msgs {
		_ = Sentiment(m.Text)
		promises += len(ExtractPromises(m.Text, m.At, nil, m.Role))
	}
	return promises, Summarize(msgs, "")
}

func BenchmarkOfflineConversation1000(b *testing.B) {
	msgs := conversation1000()
	if _, err := loadSentiment(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		analyzeOffline(msgs)
	}
}

func TestOfflineConversation1000Output(t *testing.T) {
	msgs := conversation1000()
	n, s := analyzeOffline(msgs)
	if n < 100 {
		t.Errorf("only %d promises in 1,000 messages", n)
	}
	for _, sec := range []string{"需求：", "顾虑：", "承诺："} {
		if !strings.Contains(s.Text, sec) {
			t.Errorf("summary lacks %s:\n%s", sec, s.Text)
		}
	}
}
