// The staff directory, loaded once for names and pickers. Salespeople may
// not read it (403): they then see IDs and only themselves.
import { ref } from 'vue'
import { get, session } from './api.js'

export const staff = ref([])
let loaded = null

export function loadStaff() {
  if (!loaded) {
    loaded = get('/api/v1/staff').then((r) => { staff.value = r.items || [] }).catch(() => {
      const me = session.me
      staff.value = me ? [{ id: me.staff_id, name: me.name, role: me.role, active: true }] : []
      loaded = null
    })
  }
  return loaded
}

export function staffName(id) {
  if (!id) return '—'
  const m = staff.value.find((s) => s.id === id)
  return m && m.name ? m.name : id
}
