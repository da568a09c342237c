package nlp

import (
	"fmt"
	"strings"
	"time"
)

// Prompts are in Chinese: the conversations are, and the models the
// project targets (DeepSeek, Qwen, GLM, Kimi) follow Chinese instructions
// best. Their rendered forms are kept as golden files in testdata/prompts.

const jsonInstruction = "只输出一个 JSON 对象（JSON object），不要输出任何其他文字、解释或 Markdown 代码块。" +
	"文本中形如 ⟦PHONE_1⟧ 的占位符代表已脱敏的个人信息，需要时请原样保留，不要猜测其内容。"

const schemaIntro = "该 JSON 对象必须符合以下 JSON Schema："

func repairPrompt(err error) string {
	return "你上一次的输出不符合要求：" + err.Error() + "。请修正后重新输出，只输出一个符合上述 JSON Schema 的 JSON 对象。"
}

const roleIntro = "你是企业微信客户关系管理（SCRM）系统中的会话分析助手，帮助销售和客服人员理解客户。"

const sentimentSystem = roleIntro + "\n请判断下面这条消息的情感倾向：" +
	"positive 表示满意、赞扬、感谢等正面情绪；negative 表示不满、抱怨、投诉、失望等负面情绪；" +
	"neutral 表示询问、陈述事实、日常沟通等没有明显情绪的内容。score 是这条消息为正面的概率，取 0 到 1 之间的数。"

var sentimentSchema = ObjectSchema(map[string]*Schema{
	"label": StringSchema("情感倾向", Positive, Negative, Neutral),
	"score": NumberSchema("为正面的概率", 0, 1),
})

func sentimentUser(text string) string {
	return "消息：\n" + text
}

const promisesSystem = roleIntro + "\n请找出下面这条消息中带有明确时间的承诺或约定（包括带期限的请求），" +
	"例如“明天下午三点前发报价”“下周三再联系我”“月底前确认”“麻烦周五前把报价单发我”。" +
	"只有同时具备明确的时间表达和具体行动时才算；以下情况都不算，返回空数组：" +
	"提问（“98寸的屏下个月能到货吗？”“43寸的有吗？”），已经发生的事（“上周已经发过了”），" +
	"否定或取消（“明天不用联系我”），问候祝福（“周末愉快”“下周见”），估计（“明天应该能到”），" +
	"以及没有具体时间的说法（“尽快”“有空”“回头”）。不要编造时间。" +
	"due 是截止时间，按消息发送时间推算，使用带时区偏移的 RFC 3339 格式（业务时区见下）；" +
	"只说了日期没说时刻时取当天 18:00。time_text 原样摘录消息中表示这个时间的文字（如“周五前”）。" +
	"action 写完整的义务：动作和对象，数量、规格和条件放在括号里，不含时间，" +
	"例如“麻烦给我发一份10台75寸的正式报价单，含安装和三年质保，周五前要”写作“发正式报价单（10台75寸，含安装和三年质保）”。" +
	"who 是承担这项义务、需要去做的一方：customer 表示客户，staff 表示员工；" +
	"说话人自己答应的事由说话人承担，说话人要求对方在期限内做的事由对方承担（客户的请求由员工承担）。"

var promisesSchema = func() *Schema {
	item := ObjectSchema(map[string]*Schema{
		"action":    StringSchema("完整的义务：动作和对象，数量、规格、条件放在括号里"),
		"due":       {Type: "string", Description: "截止时间，RFC 3339", Format: "date-time"},
		"who":       StringSchema("承担义务的一方", RoleCustomer, RoleStaff),
		"time_text": StringSchema("消息中表示截止时间的原文"),
	})
	// time_text is asked for but not required: an answer without it is
	// still checked against the message's single time expression.
	item.Required = []string{"action", "due", "who"}
	return ObjectSchema(map[string]*Schema{"promises": ArraySchema("承诺列表，没有则为空数组", item)})
}()

var weekdayNames = [...]string{"星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"}

func roleName(role string) string {
	if role == RoleStaff {
		return "员工"
	}
	return "客户"
}

func promisesUser(msg Message, loc *time.Location) string {
	at := msg.At.In(loc)
	return fmt.Sprintf("业务时区：%s\n消息发送时间：%s（%s）\n说话人：%s（%s）\n消息：\n%s",
		loc.String(), at.Format(time.RFC3339), weekdayNames[at.Weekday()], roleName(msg.Role), roleOrDefault(msg.Role), msg.Text)
}

func roleOrDefault(role string) string {
	if role == RoleStaff {
		return RoleStaff
	}
	return RoleCustomer
}

const summarySystem = roleIntro + "\n你负责维护一位客户的滚动会话摘要。输入是之前的摘要（可能为空）和此后新增的消息，" +
	"请把新消息中的信息合并进摘要，输出更新后的完整摘要。按以下栏目整理，每栏是简短的中文要点，没有内容的栏目返回空数组：" +
	"needs（客户的需求）、objections（客户的顾虑、异议或不满）、answers（员工已给出的关键答复）、" +
	"commitments（双方做出的承诺，写明哪一方、做什么、什么时间）、questions（客户提出但尚未解答的问题）。" +
	"overview 用一两句话概括目前的进展。每栏最多 5 条，每条不超过 40 个字；已经解答的问题从 questions 中移除，过时的内容可以删去。"

var summarySchema = func() *Schema {
	list := func(desc string) *Schema { return ArraySchema(desc, StringSchema("")) }
	return ObjectSchema(map[string]*Schema{
		"overview":    StringSchema("一两句话的进展概括"),
		"needs":       list("客户的需求"),
		"objections":  list("客户的顾虑"),
		"answers":     list("员工的关键答复"),
		"commitments": list("双方的承诺"),
		"questions":   list("尚未解答的问题"),
	})
}()

func summaryUser(prev string, msgs []Message, loc *time.Location) string {
	var b strings.Builder
	b.WriteString("之前的摘要：\n")
	if strings.TrimSpace(prev) == "" {
		b.WriteString("（无）")
	} else {
		b.WriteString(prev)
	}
	b.WriteString("\n\n新增消息：")
	for _, m := range msgs {
		b.WriteString("\n")
		if !m.At.IsZero() {
			b.WriteString("[" + m.At.In(loc).Format("2006-01-02 15:04") + "] ")
		}
		b.WriteString(roleName(m.Role) + "：" + m.Text)
	}
	return b.String()
}

const intentSystem = roleIntro + "\n请判断下面这条客户消息的意图，从以下类别中选择一个：" +
	"询价（询问价格、报价、优惠）、投诉（表达不满并要求处理）、售后（退换货、维修、安装、物流、发票等购买后的服务）、" +
	"下单（明确表示购买、下单、付款、签约）、闲聊（问候、寒暄、与业务无关的内容）、其他。confidence 是 0 到 1 之间的置信度。"

var intentSchema = ObjectSchema(map[string]*Schema{
	"intent":     StringSchema("意图", Intents...),
	"confidence": NumberSchema("置信度", 0, 1),
})

func intentUser(text string) string {
	return "消息：\n" + text
}
