package nlp

import "strings"

// A small hand-written sentiment lexicon complements the review-trained
// model: it knows chat praise and complaints that product reviews rarely
// contain (谢谢, 点赞, 投诉, 不回消息) and it decides whether a text
// expresses any sentiment at all, so that questions and logistics ("请问
// 周六上班吗", "收到，转给采购") are neutral instead of being read as the
// rhetorical complaints that questions usually are in reviews.

var positiveWords = []string{
	"好", "很好", "真好", "挺好", "不错", "满意", "喜欢", "谢谢", "感谢", "多谢", "赞", "点赞", "好评",
	"棒", "优秀", "完美", "专业", "贴心", "耐心", "热情", "周到", "及时", "划算", "实惠", "超值", "值得",
	"靠谱", "放心", "开心", "高兴", "愉快", "舒服", "舒适", "方便", "漂亮", "精致", "精细", "推荐", "合适",
	"给力", "厉害", "惊喜", "信任", "支持", "好用", "好吃", "好看", "干净", "诚意", "省心", "顺利",
	"辛苦了", "到位", "清楚", "快速", "迅速", "很快", "挺快", "性价比高", "物美价廉", "合作愉快", "爱了",
	"太好了", "解决了", "放心了", "温馨", "安静", "宽敞", "大方", "友好", "礼貌", "认真", "负责", "实用",
	"感动", "幸福", "稳定", "流畅", "新鲜", "正品", "质量好", "划得来", "喜爱", "满足",
	"还可以", "还行", "挺可以", "一流", "出色", "精彩", "完善", "齐全", "便利", "优质", "周全", "细心",
	"用心", "贴切", "美观", "结实", "耐用", "省事", "放心吧", "超赞", "好极了", "满分", "五星", "回购",
}

var negativeWords = []string{
	"差", "太差", "很差", "不好", "失望", "垃圾", "烂", "坑", "骗", "假货", "贵", "太贵", "慢", "太慢",
	"坏", "坏了", "破", "破损", "投诉", "退货", "退款", "生气", "气人", "愤怒", "恶心", "糟糕", "不满",
	"抱怨", "后悔", "故障", "卡顿", "老是卡", "迟到", "没人", "不回", "不理", "敷衍", "欺骗", "忽悠", "无语",
	"郁闷", "难用", "难吃", "难看", "脏", "弄脏", "吵", "臭", "差劲", "离谱", "过分", "不靠谱", "耽误",
	"浪费", "没用", "不合作", "换供应商", "一般", "失误", "延迟", "拖延", "不值", "上当", "被骗", "崩溃",
	"出问题", "有问题", "毛病", "瑕疵", "划痕", "掉色", "异味", "漏水", "不能用", "用不了", "没法用",
	"不舒服", "不方便", "不满意", "不喜欢", "不行", "不如", "太久", "等了", "还没", "一直没", "怎么还",
	"什么服务", "什么质量", "态度差", "不专业", "凑合", "勉强", "遗憾", "可惜", "失败", "错误", "麻烦死",
	"烦", "担心", "害怕", "不放心", "不耐烦", "冷漠", "霸王", "黑店", "太少", "太小", "旧", "简陋",
	"不敢恭维", "不怎么样", "噪音", "噪声", "蚊子", "潮湿", "发霉", "粗糙", "劣质", "缩水", "变形", "难受",
	"太麻烦", "很麻烦", "真麻烦", "好麻烦", "挺麻烦", "比较麻烦", "麻烦事", "坑人", "骗人", "乱收费", "态度恶劣", "不负责", "推卸", "拖拉", "石沉大海", "差评", "不推荐", "别买",
}

// negators flip the next sentiment word within the clause (不满意 is
// listed whole; 不太满意, 没有想象中好 need the flip).
var negators = []string{"不", "没", "没有", "别", "无", "非", "未", "不太", "不怎么", "并不", "不是很", "不够"}

// intensifiers strengthen the next sentiment word.
var intensifiers = []string{"很", "太", "非常", "特别", "超", "超级", "极", "极其", "最", "真", "真的", "十分", "相当", "挺", "好"}

// neutralWords contain sentiment characters but express none: they are
// consumed so that their 好 or 不 does not count (好的 is an acknowledgement).
var neutralWords = []string{"好的", "好吧", "好嘞", "好滴", "好了", "好像", "好多", "好几", "你好", "您好", "好久",
	"只好", "正好", "最好", "好在", "好不好", "不好意思", "不客气", "没问题", "不用谢", "没关系", "一般来说", "不知道", "好处", "麻烦"}

type lexEntry struct {
	polarity float64 // +1, -1; 0 for negators and intensifiers
	negator  bool
	intense  bool
}

var lexicon = func() map[string]lexEntry {
	m := map[string]lexEntry{}
	for _, w := range intensifiers {
		m[w] = lexEntry{intense: true}
	}
	for _, w := range negators {
		m[w] = lexEntry{negator: true}
	}
	for _, w := range neutralWords {
		m[w] = lexEntry{}
	}
	for _, w := range positiveWords {
		m[w] = lexEntry{polarity: 1}
	}
	for _, w := range negativeWords {
		m[w] = lexEntry{polarity: -1}
	}
	return m
}()

var lexMaxLen = func() int {
	n := 0
	for w := range lexicon {
		n = max(n, len([]rune(w)))
	}
	return n
}()

// lexiconScore returns the summed polarity of the sentiment words in text
// (negated words flipped, intensified ones weighted 1.5) and how many
// sentiment words it found. Matching is longest-first, left to right.
func lexiconScore(text string) (score float64, hits int) {
	rs := []rune(text)
	negate, boost := false, false
	for i := 0; i < len(rs); {
		if strings.ContainsRune(clauseBreaks, rs[i]) {
			negate, boost = false, false
			i++
			continue
		}
		n := 0
		var e lexEntry
		for l := min(lexMaxLen, len(rs)-i); l >= 1; l-- {
			if got, ok := lexicon[string(rs[i:i+l])]; ok {
				n, e = l, got
				break
			}
		}
		if n == 0 {
			i++
			continue
		}
		// "好" before another word is an intensifier (好快, 好贵); at the
		// end of a clause or before a particle it is praise.
		if string(rs[i:i+n]) == "好" && i+1 < len(rs) && !strings.ContainsRune(clauseBreaks+"的了啊呀哦呢吧哈评用吃看", rs[i+1]) {
			boost = true
			i++
			continue
		}
		switch {
		case e.negator:
			negate = true
		case e.intense:
			boost = true
		case e.polarity == 0:
			// a neutral word
		default:
			v := e.polarity
			if negate {
				v = -v * 0.8 // 不太好 is milder than 差
			}
			if boost {
				v *= 1.5
			}
			score += v
			hits++
			negate, boost = false, false
		}
		i += n
	}
	return score, hits
}

const clauseBreaks = "，,。.！!？?；;、\n ~～"
