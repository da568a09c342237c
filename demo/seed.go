package demo

import (
	"crypto/sha256"
	"encoding/base64"
	"github.com/scrmhq/scrm/store"
	"strings"
	"time"

	"github.com/scrmhq/scrm/bot"
)

// Company names the simulated corp the demo plays.
const Company = "蓝鲸智能办公"

// Staff is one simulated WeCom employee.
type Staff struct {
	UserID   string `json:"id"`
	Name     string `json:"name"`
	Title    string `json:"title"`
	Manager  bool   `json:"manager"`
	Mobile   string `json:"-"`
	Initials string `json:"initials"` // shown in the avatar circle
}

// Channels a demo customer can write on.
const (
	ChannelOA = "oa" // 公众号
	ChannelKF = "kf" // 微信客服
)

// Person is one simulated customer with every platform identity they use.
// The demo knows them as one person; the product has to work that out from
// the platform identities (unionid), which is why the page reads the store
// for each identity.
type Person struct {
	Key            string   `json:"key"`
	Name           string   `json:"name"`
	Company        string   `json:"company"`
	Position       string   `json:"position"`
	Gender         int      `json:"-"` // 1 male, 2 female, as WeCom reports it
	ExternalUserID string   `json:"external_userid"`
	OpenID         string   `json:"openid"`
	UnionID        string   `json:"-"`
	Owner          string   `json:"owner"`
	Tags           []string `json:"tags"`
	Stage          string   `json:"stage"`
	Channel        string   `json:"channel"` // where they usually write: ChannelOA or ChannelKF
	State          string   `json:"-"`       // add-way State: the acquisition channel
	AddedDaysAgo   int      `json:"-"`
	Lines          []Line   `json:"-"`
	// Complains: they only ever wrote to complain, so their history has
	// no earlier chats and the analysis reads the complaint alone.
	Complains bool `json:"-"`
}

// Line is one seeded customer message, placed DaysAgo days before today at
// Clock business time (clamped to just before now for today's lines).
type Line struct {
	DaysAgo int
	Clock   string // "15:04"
	Text    string
}

// TagGroup is a WeCom corp tag group.
type TagGroup struct {
	Name string
	Tags []string
}

// TagGroups are the customer segmentation groups sales use in WeCom.
var TagGroups = []TagGroup{
	{Name: "客户价值", Tags: []string{"高价值", "中价值", "低价值"}},
	{Name: "生命周期", Tags: []string{"新客户", "成长期", "成熟期", "沉睡期"}},
	{Name: "行业", Tags: []string{"制造业", "零售", "教育", "医疗", "互联网", "物流", "专业服务"}},
	{Name: "活跃度", Tags: []string{"高活跃", "一般", "低活跃"}},
}

// StaffList is the company: a manager and three salespeople.
var StaffList = []Staff{
	{UserID: "limin", Name: "李明", Title: "销售经理", Manager: true, Mobile: "13900000001", Initials: "李"},
	{UserID: "wangfang", Name: "王芳", Title: "销售顾问", Mobile: "13900000002", Initials: "王"},
	{UserID: "zhangwei", Name: "张伟", Title: "销售顾问", Mobile: "13900000003", Initials: "张"},
	{UserID: "chenjing", Name: "陈静", Title: "销售顾问", Mobile: "13900000004", Initials: "陈"},
}

// People are the company's customers and their last few days of messages.
var People = buildPeople([]Person{
	// 王芳's customers.
	{Key: "liuyang", Name: "刘洋", Company: "杭州云帆贸易有限公司", Position: "采购经理", Gender: 1, Owner: "wangfang",
		Tags: []string{"高价值", "成熟期", "零售", "高活跃"}, Stage: "已成交", Channel: ChannelOA, State: "referral", AddedDaysAgo: 96,
		Lines: []Line{
			{4, "10:12", "王经理你好，上次那批会议平板用得不错，我们分公司也想配几台"},
			{4, "10:15", "65寸和75寸的价格能再发我一下吗？"},
			{2, "16:40", "老板说预算批下来了，下周三下午再联系我确认数量"},
			{0, "09:05", "合同模板可以先发我看看吗？"},
		}},
	{Key: "zhaolei", Name: "赵磊", Company: "宁波海拓机械制造有限公司", Position: "行政主管", Gender: 1, Owner: "wangfang",
		Tags: []string{"中价值", "成长期", "制造业", "一般"}, Stage: "跟进中", Channel: ChannelOA, State: "expo", AddedDaysAgo: 21,
		Lines: []Line{
			{5, "14:02", "你好，我们厂区有6个会议室，想了解一下整体方案"},
			{3, "11:30", "你们的视频会议系统支持和腾讯会议互通吗？"},
			{1, "17:48", "报价有点高，能不能再优惠一点？"},
		}},
	{Key: "sunli", Name: "孙丽", Company: "上海知行教育科技有限公司", Position: "校区负责人", Gender: 2, Owner: "wangfang",
		Tags: []string{"高价值", "成长期", "教育", "高活跃"}, Stage: "跟进中", Channel: ChannelOA, State: "oa_article", AddedDaysAgo: 14,
		Lines: []Line{
			{5, "09:20", "我们有12个校区，教室里能用你们的平板上课吗？"},
			{2, "15:10", "上周的演示效果挺好的，老师们反馈不错"},
			{1, "20:05", "明天上午十点方便打个电话吗？"},
		}},
	{Key: "zhoujie", Name: "周杰", Company: "苏州恒瑞医疗器械有限公司", Position: "IT主管", Gender: 1, Owner: "wangfang",
		Tags: []string{"中价值", "成熟期", "医疗", "一般"}, Stage: "已成交", Channel: ChannelOA, State: "website", AddedDaysAgo: 130, Complains: true,
		Lines: []Line{
			{3, "13:45", "上次装的那台屏幕有点闪，能派人来看看吗？"},
			{0, "08:50", "都三天了还没人联系我，售后太慢了吧，很失望"},
		}},
	{Key: "wumin", Name: "吴敏", Company: "南京悦享餐饮管理有限公司", Position: "店长", Gender: 2, Owner: "wangfang",
		Tags: []string{"低价值", "新客户", "零售", "低活跃"}, Stage: "新线索", Channel: ChannelKF, State: "oa_article", AddedDaysAgo: 3,
		Lines: []Line{
			{2, "21:16", "在吗？看到你们公众号的文章，想问下有没有小尺寸的屏"},
		}},
	{Key: "zhengqiang", Name: "郑强", Company: "合肥启明软件有限公司", Position: "CTO", Gender: 1, Owner: "wangfang",
		Tags: []string{"高价值", "新客户", "互联网", "高活跃"}, Stage: "新线索", Channel: ChannelOA, State: "expo", AddedDaysAgo: 4,
		Lines: []Line{
			{4, "16:30", "我们新办公室下个月装修完，需要8间会议室的设备"},
			{3, "10:05", "能提供试用吗？"},
			{1, "11:22", "好的，周五下午可以来我们公司演示"},
		}},
	{Key: "fengting", Name: "冯婷", Company: "杭州美予文化传媒有限公司", Position: "行政专员", Gender: 2, Owner: "wangfang",
		Tags: []string{"低价值", "沉睡期", "互联网", "低活跃"}, Stage: "沉睡", Channel: ChannelOA, State: "website", AddedDaysAgo: 75,
		Lines: []Line{
			{5, "18:10", "先不考虑了，今年预算比较紧张"},
		}},
	{Key: "hejun", Name: "何军", Company: "嘉兴华信物流有限公司", Position: "总经理", Gender: 1, Owner: "wangfang",
		Tags: []string{"中价值", "成长期", "物流", "一般"}, Stage: "跟进中", Channel: ChannelOA, State: "expo", AddedDaysAgo: 9,
		Lines: []Line{
			{4, "09:40", "你好，我是何军，上次展会加的你"},
			{4, "09:42", "我们调度中心需要一块大屏，98寸的有吗？"},
		}},
	{Key: "xujuan", Name: "徐娟", Company: "绍兴锦程纺织有限公司", Position: "办公室主任", Gender: 2, Owner: "wangfang",
		Tags: []string{"中价值", "成熟期", "制造业", "一般"}, Stage: "已成交", Channel: ChannelOA, State: "referral", AddedDaysAgo: 58,
		Lines: []Line{
			{3, "14:20", "发票什么时候能开出来？财务在催了"},
			{2, "10:02", "收到了，谢谢王经理"},
		}},
	{Key: "machao", Name: "马超", Company: "温州鼎盛鞋业有限公司", Position: "采购", Gender: 1, Owner: "wangfang",
		Tags: []string{"低价值", "新客户", "制造业", "一般"}, Stage: "新线索", Channel: ChannelKF, State: "website", AddedDaysAgo: 2,
		Lines: []Line{
			{1, "15:35", "你们的产品和希沃的比有什么优势？"},
		}},

	// 张伟's customers.
	{Key: "hujing", Name: "胡静", Company: "北京博远咨询有限公司", Position: "合伙人", Gender: 2, Owner: "zhangwei",
		Tags: []string{"高价值", "成熟期", "专业服务", "高活跃"}, Stage: "已成交", Channel: ChannelOA, State: "referral", AddedDaysAgo: 200,
		Lines: []Line{
			{4, "11:00", "张伟，续费的事情我们下个月初再谈"},
			{4, "11:02", "另外新来的同事账号怎么开通？"},
		}},
	{Key: "guotao", Name: "郭涛", Company: "天津新港国际货运有限公司", Position: "行政经理", Gender: 1, Owner: "zhangwei",
		Tags: []string{"中价值", "成长期", "物流", "一般"}, Stage: "跟进中", Channel: ChannelOA, State: "website", AddedDaysAgo: 18,
		Lines: []Line{
			{3, "16:15", "方案收到了，我们内部评估一下，大概两周后给答复"},
		}},
	{Key: "linxue", Name: "林雪", Company: "厦门海韵酒店管理有限公司", Position: "运营总监", Gender: 2, Owner: "zhangwei",
		Tags: []string{"高价值", "成长期", "零售", "高活跃"}, Stage: "跟进中", Channel: ChannelOA, State: "expo", AddedDaysAgo: 25,
		Lines: []Line{
			{5, "10:30", "我们酒店有3个宴会厅，想做会议室升级"},
			{4, "14:12", "能不能先安排一台样机？"},
			{1, "09:58", "样机效果很好，准备再采购5台，麻烦尽快报个价"},
		}},
	{Key: "gaofeng", Name: "高峰", Company: "青岛蓝海食品有限公司", Position: "信息部经理", Gender: 1, Owner: "zhangwei",
		Tags: []string{"中价值", "沉睡期", "制造业", "低活跃"}, Stage: "沉睡", Channel: ChannelOA, State: "website", AddedDaysAgo: 110,
		Lines: []Line{
			{5, "17:25", "最近比较忙，过段时间再说吧"},
		}},
	{Key: "luomin", Name: "罗敏", Company: "成都锦城教育培训学校", Position: "校长", Gender: 2, Owner: "zhangwei",
		Tags: []string{"中价值", "新客户", "教育", "高活跃"}, Stage: "新线索", Channel: ChannelOA, State: "oa_article", AddedDaysAgo: 5,
		Lines: []Line{
			{5, "19:40", "你好，我们是培训机构，有20间教室"},
			{3, "09:15", "价格能按教育优惠算吗？"},
			{2, "18:30", "下周一上午再联系我吧，这周在外地"},
		}},
	{Key: "liangchen", Name: "梁晨", Company: "深圳星途科技有限公司", Position: "行政总监", Gender: 1, Owner: "zhangwei",
		Tags: []string{"高价值", "成熟期", "互联网", "高活跃"}, Stage: "已成交", Channel: ChannelOA, State: "referral", AddedDaysAgo: 88,
		Lines: []Line{
			{3, "15:50", "新办公室的10台已经装好了，效果很满意！"},
			{2, "10:10", "推荐了两个朋友公司给你，回头你们对接一下"},
		}},
	{Key: "songjia", Name: "宋佳", Company: "广州康宁口腔医院", Position: "院长助理", Gender: 2, Owner: "zhangwei",
		Tags: []string{"中价值", "成长期", "医疗", "一般"}, Stage: "跟进中", Channel: ChannelOA, State: "website", AddedDaysAgo: 12,
		Lines: []Line{
			{2, "14:45", "医院的会议室和培训室都需要，预算大概20万"},
		}},
	{Key: "xieyu", Name: "谢宇", Company: "武汉长江光电有限公司", Position: "采购主管", Gender: 1, Owner: "zhangwei",
		Tags: []string{"低价值", "沉睡期", "制造业", "低活跃"}, Stage: "流失", Channel: ChannelOA, State: "expo", AddedDaysAgo: 64,
		Lines: []Line{
			{4, "16:05", "不好意思，我们已经选了别家的了"},
		}},
	{Key: "hanmei", Name: "韩梅", Company: "长沙湘江律师事务所", Position: "行政主管", Gender: 2, Owner: "zhangwei",
		Tags: []string{"中价值", "新客户", "专业服务", "一般"}, Stage: "新线索", Channel: ChannelKF, State: "website", AddedDaysAgo: 3,
		Lines: []Line{
			{2, "10:40", "律所的会议室需要支持远程开庭，有这种方案吗？"},
		}},
	{Key: "tanglei", Name: "唐磊", Company: "重庆山城汽车配件有限公司", Position: "IT经理", Gender: 1, Owner: "zhangwei",
		Tags: []string{"中价值", "成熟期", "制造业", "一般"}, Stage: "已成交", Channel: ChannelOA, State: "referral", AddedDaysAgo: 150,
		Lines: []Line{
			{1, "09:10", "系统升级之后无线投屏用不了了，怎么回事？"},
			{1, "09:40", "重启之后好了，谢谢"},
		}},

	// 陈静's customers.
	{Key: "xuke", Name: "许可", Company: "西安古都文旅集团", Position: "办公室主任", Gender: 1, Owner: "chenjing",
		Tags: []string{"高价值", "新客户", "零售", "高活跃"}, Stage: "新线索", Channel: ChannelOA, State: "referral", AddedDaysAgo: 6,
		Lines: []Line{
			{5, "15:00", "集团总部要建一个指挥中心，需要整体方案"},
			{2, "11:18", "预算在百万级别，希望下周能看到方案"},
		}},
	{Key: "dengli", Name: "邓丽", Company: "郑州中原医药连锁有限公司", Position: "培训经理", Gender: 2, Owner: "chenjing",
		Tags: []string{"中价值", "成长期", "医疗", "一般"}, Stage: "跟进中", Channel: ChannelOA, State: "oa_article", AddedDaysAgo: 16,
		Lines: []Line{
			{4, "13:30", "门店店长的线上培训能用你们的系统吗？"},
			{1, "16:20", "我们有200多家门店，能不能按年付费？"},
		}},
	{Key: "caoyang", Name: "曹阳", Company: "济南泉城建设工程有限公司", Position: "项目经理", Gender: 1, Owner: "chenjing",
		Tags: []string{"中价值", "成长期", "制造业", "一般"}, Stage: "跟进中", Channel: ChannelOA, State: "expo", AddedDaysAgo: 11,
		Lines: []Line{
			{3, "08:45", "工地临时会议室用，设备能租吗？"},
		}},
	{Key: "pengtao", Name: "彭涛", Company: "昆明云岭茶业有限公司", Position: "总经理", Gender: 1, Owner: "chenjing",
		Tags: []string{"低价值", "新客户", "零售", "低活跃"}, Stage: "新线索", Channel: ChannelKF, State: "website", AddedDaysAgo: 1,
		Lines: []Line{
			{0, "08:30", "了解一下你们的会议平板"},
		}},
	{Key: "zenglin", Name: "曾琳", Company: "福州闽江外国语学校", Position: "信息中心主任", Gender: 2, Owner: "chenjing",
		Tags: []string{"高价值", "成熟期", "教育", "高活跃"}, Stage: "已成交", Channel: ChannelOA, State: "referral", AddedDaysAgo: 180,
		Lines: []Line{
			{3, "10:25", "第二批30台什么时候能到货？"},
			{1, "19:12", "开学前一定要装好，拜托了"},
		}},
	{Key: "xiaoran", Name: "萧然", Company: "杭州极光网络科技有限公司", Position: "创始人", Gender: 1, Owner: "chenjing",
		Tags: []string{"中价值", "成长期", "互联网", "高活跃"}, Stage: "跟进中", Channel: ChannelOA, State: "oa_article", AddedDaysAgo: 20,
		Lines: []Line{
			{5, "22:10", "你们的 API 能接我们自己的会议系统吗？"},
			{4, "09:05", "技术文档发我邮箱吧"},
		}},
	{Key: "tiantian", Name: "田甜", Company: "南昌赣江幼儿园", Position: "园长", Gender: 2, Owner: "chenjing",
		Tags: []string{"低价值", "新客户", "教育", "一般"}, Stage: "新线索", Channel: ChannelKF, State: "oa_article", AddedDaysAgo: 2,
		Lines: []Line{
			{1, "13:05", "幼儿园用的话，屏幕有没有护眼功能？"},
		}},
	{Key: "donghao", Name: "董浩", Company: "沈阳北方重工装备有限公司", Position: "设备科长", Gender: 1, Owner: "chenjing",
		Tags: []string{"中价值", "沉睡期", "制造业", "低活跃"}, Stage: "沉睡", Channel: ChannelOA, State: "expo", AddedDaysAgo: 95,
		Lines: []Line{
			{5, "11:11", "项目暂停了，明年再说"},
		}},

	// Key accounts the manager keeps himself.
	{Key: "yuanfang", Name: "袁芳", Company: "上海东方明珠投资集团", Position: "行政副总", Gender: 2, Owner: "limin",
		Tags: []string{"高价值", "成熟期", "专业服务", "高活跃"}, Stage: "已成交", Channel: ChannelOA, State: "referral", AddedDaysAgo: 365,
		Lines: []Line{
			{3, "17:05", "李总，集团年会要用的设备能借我们几台吗？"},
			{1, "10:30", "上次的服务很满意，明年的框架协议可以开始谈了"},
		}},
	{Key: "panning", Name: "潘宁", Company: "杭州市西湖区人民医院", Position: "信息科科长", Gender: 1, Owner: "limin",
		Tags: []string{"高价值", "成长期", "医疗", "一般"}, Stage: "跟进中", Channel: ChannelOA, State: "expo", AddedDaysAgo: 30,
		Lines: []Line{
			{2, "09:30", "招标文件下周发布，请留意"},
			{0, "07:55", "参数要求我先发你一份，有问题随时问我"},
		}},
})

// buildPeople derives the platform identities from each person's key, so
// they are stable across runs and look like the real thing.
func buildPeople(ps []Person) []Person {
	for i := range ps {
		p := &ps[i]
		p.ExternalUserID = "wm" + fakeID("external:"+p.Key, 30)
		p.UnionID = "o" + fakeID("union:"+p.Key, 27)
		// Everyone has an openid for the Official Account; only those whose
		// channel is the OA follow it from the start, the others follow it
		// when the visitor first writes there as them.
		p.OpenID = "o" + fakeID("openid:"+p.Key, 27)
	}
	return ps
}

// fakeID is n URL-safe characters derived from seed.
func fakeID(seed string, n int) string {
	sum := sha256.Sum256([]byte("scrm-demo:" + seed))
	s := base64.RawURLEncoding.EncodeToString(sum[:])
	s = strings.NewReplacer("-", "A", "_", "B").Replace(s)
	return s[:n]
}

// FindPerson returns the person with key, or nil.
func FindPerson(key string) *Person {
	for i := range People {
		if People[i].Key == key {
			return &People[i]
		}
	}
	return nil
}

// FindStaff returns the staff member with userID, or nil.
func FindStaff(userID string) *Staff {
	for i := range StaffList {
		if StaffList[i].UserID == userID {
			return &StaffList[i]
		}
	}
	return nil
}

// lineTimes places a person's lines in time: each on its day at its clock in
// loc, kept strictly increasing and before now, so today's lines written
// "later today" slide to just before now in order.
func lineTimes(lines []Line, now time.Time, loc *time.Location) []time.Time {
	out := make([]time.Time, len(lines))
	local := now.In(loc)
	for i, l := range lines {
		c, err := time.ParseInLocation("15:04", l.Clock, loc)
		if err != nil {
			c = time.Date(0, 1, 1, 9, 0, 0, 0, loc)
		}
		day := local.AddDate(0, 0, -l.DaysAgo)
		out[i] = time.Date(day.Year(), day.Month(), day.Day(), c.Hour(), c.Minute(), 0, 0, loc)
	}
	// Walk backwards so the newest line ends up before now and each earlier
	// one before its successor.
	limit := now.Add(-2 * time.Minute)
	for i := len(out) - 1; i >= 0; i-- {
		if !out[i].Before(limit) {
			out[i] = limit
		}
		limit = out[i].Add(-time.Minute)
	}
	for i := range out {
		out[i] = out[i].UTC()
	}
	return out
}

// Directory tells scrm's bot who is who in the demo company: the manager sees
// the whole team's customers, each salesperson only their own.
func Directory() bot.StaticDirectory {
	var team []string
	for _, s := range StaffList {
		if !s.Manager {
			team = append(team, s.UserID)
		}
	}
	d := bot.StaticDirectory{}
	for _, s := range StaffList {
		if s.Manager {
			d[s.UserID] = bot.Viewer{Role: bot.RoleManager, Team: team}
		} else {
			d[s.UserID] = bot.Viewer{Role: bot.RoleSales}
		}
	}
	return d
}

// StaffRecords are the company's staff as scrm's staff directory keeps them,
// so churn alerts reach the manager, weekly digests go out and staff tokens
// resolve in the demo as they would in production.
func StaffRecords() []*store.Staff {
	dir := Directory()
	out := make([]*store.Staff, 0, len(StaffList))
	for _, s := range StaffList {
		v := dir[s.UserID]
		out = append(out, &store.Staff{ID: s.UserID, Name: s.Name, Role: v.Role, Team: v.Team, Active: true})
	}
	return out
}
