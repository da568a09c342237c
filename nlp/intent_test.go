package nlp

import "testing"

func TestClassifyIntent(t *testing.T) {
	cases := []struct{ text, want string }{
		{"这款多少钱？有没有优惠", IntentInquiry},
		{"批量采购能给个报价吗", IntentInquiry},
		{"你们客服态度太差了，我要投诉", IntentComplaint},
		{"收到的东西是坏的，质量太差了，骗人的吧", IntentComplaint},
		{"我想退货，怎么操作", IntentService},
		{"等了一个星期还没发货，太慢了，东西还是坏的", IntentComplaint},
		{"发票什么时候能开好", IntentService},
		{"快递到哪了，还没收到", IntentService},
		{"就要这个了，我现在下单", IntentOrder},
		{"合同没问题，我们明天签合同付定金", IntentOrder},
		{"你好呀，在吗", IntentChitchat},
		{"哈哈，周末愉快", IntentChitchat},
		{"我们公司在杭州", IntentOther},
		{"", IntentOther},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			got, conf := ClassifyIntent(c.text)
			if got != c.want {
				t.Errorf("intent = %s, want %s", got, c.want)
			}
			if conf <= 0 || conf > 1 {
				t.Errorf("confidence %v out of range", conf)
			}
		})
	}
}
