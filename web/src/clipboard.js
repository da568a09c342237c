// copyText puts text on the clipboard: through the Clipboard API where the
// page may use it (https, or loopback), else through the copy command on a
// hidden text area, which is all some phones' in-app browsers (WeCom's on
// older Android) allow. It rejects with a sentence a person reads.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text)
    return
  } catch {
    // No Clipboard API here, or it refused: try the old way.
  }
  const box = document.createElement('textarea')
  box.value = text
  box.setAttribute('readonly', '')
  box.style.cssText = 'position:fixed;top:0;left:0;opacity:0'
  document.body.appendChild(box)
  box.select()
  let ok = false
  try {
    ok = document.execCommand('copy')
  } finally {
    box.remove()
  }
  if (!ok) throw new Error('复制失败，请长按文字手动复制')
}
