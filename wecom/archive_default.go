//go:build !(msgaudit && linux && cgo)

package wecom

// NewArchiveSource reports ErrArchiveUnsupported: this build does not link
// the WeCom finance SDK (see ErrArchiveUnsupported for how to enable it).
func NewArchiveSource(cfg ArchiveConfig) (ArchiveSource, error) {
	return nil, ErrArchiveUnsupported
}
