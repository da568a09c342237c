// How the console names journeys (跟进旅程) and their runs, shared by the
// journeys page and a customer's page.
import { fmtTime } from './format.js'

export const stepNames = { wait: '等待', remind: '提醒负责人', message: '一对一群发', tags: '调整标签', stage: '调整阶段' }
export const runStates = { active: '进行中', done: '已完成', exited: '已退出' }
export const exitReasons = { replied: '客户已回复', stage: '已到达退出阶段', opted_out: '客户设为不打扰', erased: '客户已删除', churned: '客户已流失', disabled: '旅程已停用' }

export function stepText(s) {
  switch (s.type) {
    case 'wait': return s.days ? s.days + ' 个工作日' : '到工作时间'
    case 'remind': return s.text + (s.script ? '（附话术）' : '')
    case 'message': return s.text
    case 'tags': return [(s.add_tags || []).length ? '加 ' + s.add_tags.join('、') : '', (s.remove_tags || []).length ? '去 ' + s.remove_tags.join('、') : ''].filter(Boolean).join('，')
    case 'stage': return '改为「' + s.stage + '」'
    default: return ''
  }
}

// progressText says where run r of a journey of n steps is.
export function progressText(r, n) {
  if (r.state === 'exited') return exitReasons[r.exit_reason] || r.exit_reason || '已退出'
  if (r.state === 'done') return '全部 ' + n + ' 步已完成'
  return '第 ' + Math.min(r.step + 1, n) + '/' + n + ' 步 · ' + fmtTime(r.next_at)
}
